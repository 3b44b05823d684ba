"""keys/state.py: a key in every state, and the Python answer equals the database's (on SQLite and
on PostgreSQL: run with DATABASE_URL), and the hot path's answer follows the same rule."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from keys import credentials, state
from keys.authentication.verification import DISABLED, UNAUTHORIZED, check_secret, verified_keys
from keys.models import ApiKey
from keys.state import Action, KeyStatus

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
NOW = timedelta(0)  # exactly the moment asked about: an end that has come

# name: (times relative to the moment asked about, the status, grace active, exposed)
STATES = {
    "active": ({}, KeyStatus.ACTIVE, False, False),
    "active, expires later": ({"expires_at": HOUR}, KeyStatus.ACTIVE, False, False),
    "expires at this moment": ({"expires_at": NOW}, KeyStatus.EXPIRED, False, False),
    "expired": ({"expires_at": -HOUR}, KeyStatus.EXPIRED, False, False),
    "disabled": ({"disabled_at": -HOUR}, KeyStatus.DISABLED, False, False),
    "disabled, expires later": ({"disabled_at": -HOUR, "expires_at": HOUR}, KeyStatus.DISABLED, False, False),
    "disabled and expired": ({"disabled_at": -HOUR, "expires_at": -HOUR}, KeyStatus.EXPIRED, False, False),
    "revoked": ({"revoked_at": -HOUR}, KeyStatus.REVOKED, False, False),
    "revoked and expired": ({"revoked_at": -HOUR, "expires_at": -HOUR}, KeyStatus.REVOKED, False, False),
    "revoked and disabled": ({"revoked_at": -HOUR, "disabled_at": -HOUR}, KeyStatus.REVOKED, False, False),
    "in a grace period": ({"previous_expires_at": HOUR}, KeyStatus.ACTIVE, True, False),
    "grace period ends at this moment": ({"previous_expires_at": NOW}, KeyStatus.ACTIVE, False, False),
    "grace period over": ({"previous_expires_at": -HOUR}, KeyStatus.ACTIVE, False, False),
    "disabled in a grace period": (
        {"disabled_at": -HOUR, "previous_expires_at": HOUR},
        KeyStatus.DISABLED,
        True,
        False,
    ),
    "revoked in a grace period": (
        {"revoked_at": -HOUR, "previous_expires_at": HOUR},
        KeyStatus.REVOKED,
        False,
        False,
    ),
    "exposed": ({"exposed_at": -HOUR}, KeyStatus.ACTIVE, False, True),
    "exposed and disabled": ({"exposed_at": -HOUR, "disabled_at": -HOUR}, KeyStatus.DISABLED, False, True),
    "exposed and expired": ({"exposed_at": -HOUR, "expires_at": -HOUR}, KeyStatus.EXPIRED, False, True),
    "exposed, then revoked": ({"exposed_at": -HOUR, "revoked_at": -HOUR}, KeyStatus.REVOKED, False, False),
    "previous secret exposed, in its grace period": (
        {"previous_exposed_at": -HOUR, "previous_expires_at": HOUR},
        KeyStatus.ACTIVE,
        True,
        True,
    ),
    "previous secret exposed, grace period ends at this moment": (
        {"previous_exposed_at": -HOUR, "previous_expires_at": NOW},
        KeyStatus.ACTIVE,
        False,
        False,
    ),
    "previous secret exposed, grace period over": (
        {"previous_exposed_at": -HOUR, "previous_expires_at": -HOUR},
        KeyStatus.ACTIVE,
        False,
        False,
    ),
    "both secrets exposed, in the grace period": (
        {"exposed_at": -HOUR, "previous_exposed_at": -HOUR, "previous_expires_at": HOUR},
        KeyStatus.ACTIVE,
        True,
        True,
    ),
}

ACTIONS = {
    KeyStatus.ACTIVE: {Action.REGENERATE, Action.DISABLE, Action.REVOKE, Action.EDIT},
    KeyStatus.DISABLED: {Action.ENABLE, Action.REVOKE, Action.EDIT},
    KeyStatus.EXPIRED: {Action.REVOKE, Action.EDIT},
    KeyStatus.REVOKED: set(),
}


def _key_in(make_key, times: dict[str, timedelta], moment):
    """A key made by the service, then put in the state (the grace period: the secret it was
    issued with becomes the previous one). Returns the key read back and that secret."""
    issued = make_key()
    fields = {name: moment + offset for name, offset in times.items()}
    if "previous_expires_at" in fields:
        fields |= {
            "previous_digest": issued.key.secret_digest,
            "previous_pepper_id": issued.key.pepper_id,
            "secret_digest": secrets.token_hex(32),
        }
    ApiKey.objects.filter(pk=issued.key.pk).update(**fields)
    return ApiKey.objects.get(pk=issued.key.pk), issued.secret


def _one(key: ApiKey, **annotations):
    return ApiKey.objects.filter(pk=key.pk).annotate(**annotations).values(*annotations).get()


@pytest.mark.parametrize("name", STATES)
def test_python_and_the_database_agree_in_every_state(make_key, name):
    times, status, grace, exposed = STATES[name]
    moment = timezone.now()
    key, _ = _key_in(make_key, times, moment)

    assert state.status_at(key, moment) == status
    assert state.grace_active(key, moment) is grace
    assert state.exposed(key, moment) is exposed
    assert state.allowed_actions(key, moment) == ACTIONS[status]
    assert state.in_use(key, moment) is (status in (KeyStatus.ACTIVE, KeyStatus.DISABLED))

    # The same answers from the database: as columns, and as filters.
    columns = _one(
        key,
        status=state.status_expression(moment),
        grace=state.as_column(state.grace_active_q(moment)),
        exposed=state.as_column(state.exposed_q(moment)),
        in_use=state.as_column(state.in_use_q(moment)),
    )
    assert columns == {
        "status": status,
        "grace": grace,
        "exposed": exposed,
        "in_use": state.in_use(key, moment),
    }
    matches = ApiKey.objects.filter(pk=key.pk)
    assert [s for s in KeyStatus if matches.filter(state.status_q(s, moment)).exists()] == [status]
    assert [s for s in KeyStatus if matches.with_status(s, moment).exists()] == [status]
    assert {a for a in Action if matches.filter(state.allows_q(a, moment)).exists()} == ACTIONS[status]
    assert matches.exposed(moment).exists() is exposed
    assert matches.in_use(moment).exists() is state.in_use(key, moment)
    # The hot path looks up only the keys that may still authenticate.
    assert matches.filter(state.NOT_REVOKED).exists() is (status != KeyStatus.REVOKED)
    # The partial index of exposed keys holds every exposed key.
    assert not exposed or matches.filter(state.EXPOSED_CANDIDATES).exists()


@pytest.mark.parametrize("name", STATES)
def test_the_hot_path_answers_by_the_same_rule(make_key, name):
    """The key's secret (the previous one, for a key with a grace period) presented to the hot
    path a moment later: every end that had come has still come, so the table holds."""
    times, status, grace, exposed = STATES[name]
    key, secret = _key_in(make_key, times, timezone.now())
    verified_keys.clear()
    via_grace = "previous_expires_at" in times
    verified, answer, _named = check_secret(credentials.parse_presented(secret))
    moment = timezone.now()
    assert state.status_at(key, moment) == status and state.exposed(key, moment) is exposed
    # A grace-period secret works while the grace period lasts; the current one while the key does.
    works = grace if via_grace else True
    if works and status == KeyStatus.ACTIVE:
        assert answer == "ok" and verified.exposed is exposed and verified.via_grace_period is via_grace
    elif works and status == KeyStatus.DISABLED:
        assert (verified, answer) == (None, DISABLED)
    else:
        assert (verified, answer) == (None, UNAUTHORIZED)
