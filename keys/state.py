"""A key's state, written once: its status, its grace period, whether it is exposed and why, and
which actions its status allows.

Each rule is written twice, side by side: once for a Python object (an ``ApiKey``, or anything
with the same attributes, such as the hot path's looked-up row) and once for the database (a ``Q``
or an expression over the same fields). ``tests/unit/test_key_state.py`` builds a key in every state
and holds the two answers equal, on SQLite and on PostgreSQL. Nothing else writes these rules:
the model, its queryset, the hot path, the services, the API surfaces and the portal ask here.

Status, by precedence: **revoked** (for good), else **expired** (its expiry has come: ``expires_at
<= now``), else **disabled** (paused; enabling brings the same secret back), else **active**.

Grace period: after a regeneration the previous secret keeps working until ``previous_expires_at``
(never past the key's own expiry); revoking ends it.

Exposed: a live secret of the key — the current one, or the previous one while its grace period
lasts — was seen by someone who should no longer hold it. ``exposed_reason`` says why, in words
written by the functions below (offboarding, a parent key that was exposed, a leak report), and
``exposed_source_url`` where the secret was found when it was reported leaked.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from django.db import models
from django.db.models import BooleanField, Case, CharField, Q, Value, When

from accounts import timezones


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Action(StrEnum):
    """What can be done to a key, each allowed in some statuses only (``ALLOWED``)."""

    REGENERATE = "regenerate"
    DISABLE = "disable"
    ENABLE = "enable"
    REVOKE = "revoke"
    EDIT = "edit"


#: The statuses in which each action changes the key. Asking to disable a disabled key or revoke a
#: revoked one changes nothing (the services answer with the key as it is); asking anything else
#: outside these statuses is refused.
ALLOWED: dict[Action, frozenset[KeyStatus]] = {
    Action.REGENERATE: frozenset({KeyStatus.ACTIVE}),
    Action.DISABLE: frozenset({KeyStatus.ACTIVE}),
    Action.ENABLE: frozenset({KeyStatus.DISABLED}),
    Action.REVOKE: frozenset({KeyStatus.ACTIVE, KeyStatus.DISABLED, KeyStatus.EXPIRED}),
    Action.EDIT: frozenset({KeyStatus.ACTIVE, KeyStatus.DISABLED, KeyStatus.EXPIRED}),
}

#: Statuses of the keys in use: they count against the plan's key limit and the security policy
#: (a disabled key can be enabled again).
IN_USE: frozenset[KeyStatus] = frozenset({KeyStatus.ACTIVE, KeyStatus.DISABLED})


class ExposureReason(StrEnum):
    """Why a key is exposed."""

    OFFBOARDING = "offboarding"  # a member who saw its secret was deactivated
    PARENT_EXPOSED = "parent_exposed"  # its secret was seen through a key that is exposed
    LEAK_REPORT = "leak_report"  # its secret was reported found somewhere it should not be


class KeyTimes(Protocol):
    """What the Python rules read of a key."""

    revoked_at: datetime | None
    expires_at: datetime | None
    disabled_at: datetime | None
    previous_expires_at: datetime | None
    exposed_at: datetime | None
    previous_exposed_at: datetime | None


# ---- in Python ----


def still_valid(until: datetime | None, now: datetime) -> bool:
    """Whether something that ends at ``until`` (None: never) still holds at ``now``: the end itself
    is already past. A key's expiry, a grace period, and the hot path's per-request check."""
    return until is None or now < until


def status_at(key: KeyTimes, now: datetime) -> KeyStatus:
    if key.revoked_at is not None:
        return KeyStatus.REVOKED
    if not still_valid(key.expires_at, now):
        return KeyStatus.EXPIRED
    if key.disabled_at is not None:
        return KeyStatus.DISABLED
    return KeyStatus.ACTIVE


def in_use(key: KeyTimes, now: datetime) -> bool:
    return status_at(key, now) in IN_USE


def allows(status: str, action: Action) -> bool:
    return status in ALLOWED[action]


def allowed_actions(key: KeyTimes, now: datetime) -> frozenset[Action]:
    status = status_at(key, now)
    return frozenset(action for action in Action if allows(status, action))


def grace_active(key: KeyTimes, now: datetime) -> bool:
    """The previous secret still works (the key is not revoked and its grace period lasts)."""
    return (
        key.revoked_at is None
        and key.previous_expires_at is not None
        and still_valid(key.previous_expires_at, now)
    )


def secret_live(key: KeyTimes, now: datetime, *, previous: bool) -> bool:
    """Whether a secret of the key (the current one, or the ``previous`` one) is live: the key is in
    use (a disabled key's secret works again once it is enabled) and, for the previous secret, its
    grace period lasts. A leak report of a live secret is a true positive. Asked of one key at a
    time (a report, a look-up), so it has no SQL twin."""
    return in_use(key, now) and (not previous or grace_active(key, now))


def exposed_since(key: KeyTimes, now: datetime) -> datetime | None:
    """Since when the key is ``exposed`` (None when it is not): its current secret's flag, else the
    grace-period secret's."""
    if not exposed(key, now):
        return None
    return key.exposed_at or key.previous_exposed_at


def exposed(key: KeyTimes, now: datetime) -> bool:
    """A live secret of this key was seen by someone who should not hold it: the current one, or
    the previous one while its grace period lasts. A revoked key exposes nothing."""
    if key.revoked_at is not None:
        return False
    return key.exposed_at is not None or (key.previous_exposed_at is not None and grace_active(key, now))


def valid_until(
    expires_at: datetime | None, previous_expires_at: datetime | None, *, via_grace_period: bool
) -> datetime | None:
    """Until when a secret authenticates (unless the key is disabled or revoked first): the key's
    expiry, and for the previous secret the earlier of that and the end of its grace period."""
    if via_grace_period and previous_expires_at is not None:
        return min(filter(None, [expires_at, previous_expires_at]))
    return expires_at


# ---- in the database: the same rules over the same fields ----

#: Keys whose secrets may still authenticate, before the time-dependent rules (expiry, grace
#: period) and disabling, which are asked in Python: the hot path's look-up runs this predicate.
NOT_REVOKED = Q(revoked_at__isnull=True)
REVOKED = Q(revoked_at__isnull=False)

#: Keys that may be exposed (``exposed_q`` narrows them by time): what the partial index
#: ``key_org_exposed`` holds.
EXPOSED_CANDIDATES = NOT_REVOKED & (Q(exposed_at__isnull=False) | Q(previous_exposed_at__isnull=False))

#: Keys that are disabled unless they expired (``status_q`` narrows them by time): what the partial
#: index ``key_org_disabled`` holds.
DISABLED_CANDIDATES = NOT_REVOKED & Q(disabled_at__isnull=False)


def still_valid_q(field: str, now: datetime) -> Q:
    """The database's ``still_valid(<field>, now)``."""
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": now})


def status_q(status: str, now: datetime) -> Q:
    """The keys whose ``status_at(now)`` is ``status``."""
    if status == KeyStatus.REVOKED:
        return REVOKED
    if status == KeyStatus.EXPIRED:
        return NOT_REVOKED & Q(expires_at__lte=now)
    if status == KeyStatus.DISABLED:
        return in_use_q(now) & Q(disabled_at__isnull=False)
    if status == KeyStatus.ACTIVE:
        return in_use_q(now) & Q(disabled_at__isnull=True)
    raise ValueError(f"Unknown status {status!r}")


def status_expression(now: datetime) -> Case:
    """``status_at(now)`` as a column (``.annotate(status=status_expression(now))``)."""
    return Case(
        When(REVOKED, then=Value(KeyStatus.REVOKED.value)),
        When(expires_at__lte=now, then=Value(KeyStatus.EXPIRED.value)),
        When(disabled_at__isnull=False, then=Value(KeyStatus.DISABLED.value)),
        default=Value(KeyStatus.ACTIVE.value),
        output_field=CharField(),
    )


def in_use_q(now: datetime) -> Q:
    """The keys whose status is in ``IN_USE``: neither revoked nor expired."""
    return NOT_REVOKED & still_valid_q("expires_at", now)


def allows_q(action: Action, now: datetime) -> Q:
    """The keys whose status allows ``action``."""
    combined = Q(pk__in=[])
    for status in sorted(ALLOWED[action]):
        combined |= status_q(status, now)
    return combined


def grace_active_q(now: datetime) -> Q:
    """The keys whose previous secret still works (``grace_active``)."""
    return NOT_REVOKED & Q(previous_expires_at__gt=now)


def exposed_q(now: datetime) -> Q:
    """The keys that are ``exposed``."""
    return NOT_REVOKED & (
        Q(exposed_at__isnull=False) | (Q(previous_exposed_at__isnull=False) & grace_active_q(now))
    )


def as_column(condition: Q) -> Case:
    """A condition as a boolean column (``.annotate(exposed=as_column(exposed_q(now)))``): true or
    false, never SQL's unknown."""
    return Case(When(condition, then=Value(True)), default=Value(False), output_field=BooleanField())


# ---- why a key is exposed, in words (``ApiKey.exposed_reason``) ----

REASON_LENGTH = 300


def _when(moment: datetime) -> str:
    # Stored once and read by everyone, whatever their time zone: in UTC, in the portal's one format.
    return timezones.when_utc(moment)


def offboarding_reason(member_email: str, deactivated_at: datetime) -> str:
    """ExposureReason.OFFBOARDING: the member saw the key's secret."""
    return f"its secret was seen by {member_email}, deactivated {_when(deactivated_at)}"[:REASON_LENGTH]


def offboarding_through_reason(
    parent_name: str, parent_client_id: str, member_email: str, deactivated_at: datetime
) -> str:
    """ExposureReason.PARENT_EXPOSED, at offboarding: the member saw the secret of the key that made
    or regenerated this one."""
    return (
        f"made or regenerated by the key {parent_name} ({parent_client_id}), "
        f"whose secret was seen by {member_email}, deactivated {_when(deactivated_at)}"
    )[:REASON_LENGTH]


def leak_reason(source_url: str, reported_at: datetime) -> str:
    """ExposureReason.LEAK_REPORT: the secret was reported found at ``source_url``."""
    return f"reported leaked at {source_url} on {_when(reported_at)}"[:REASON_LENGTH]


def leak_through_reason(
    parent_name: str, parent_client_id: str, source_url: str, reported_at: datetime
) -> str:
    """ExposureReason.PARENT_EXPOSED, at a leak report: the leaked secret was that of the key that
    made or regenerated this one."""
    return (
        f"made or regenerated by the key {parent_name} ({parent_client_id}), whose secret was "
        f"{leak_reason(source_url, reported_at)}"
    )[:REASON_LENGTH]


def parent_exposed_reason(verb: str, parent_name: str, parent_client_id: str) -> str:
    """ExposureReason.PARENT_EXPOSED, when an exposed key creates or regenerates this one
    (``verb``: ``created`` or ``regenerated``)."""
    return f"{verb} by the exposed key {parent_name} ({parent_client_id})"[:REASON_LENGTH]
