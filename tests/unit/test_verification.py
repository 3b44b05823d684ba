"""keys/authentication/verification.py: the verified key is exactly the stored key, on every database."""

from datetime import timedelta

import pytest

from accounts.actors import Actor
from keys import services
from keys.authentication.verification import verified_keys

pytestmark = pytest.mark.django_db


def test_a_verified_key_has_the_stored_values(demo, make_key):
    issued = make_key(
        account=demo.north,
        application=demo.incharge,
        scopes=["billing:read", "sessions:write"],
        expires_in_days=3,
    )
    key = issued.key
    key.refresh_from_db()
    verified = services.verify_key(presented=issued.secret)
    assert verified.id == key.id and verified.client_id == key.client_id and verified.name == key.name
    assert verified.scopes == ("billing:read", "sessions:write") and verified.has_scope("sessions:read")
    assert verified.created_at == key.created_at and verified.created_at.utcoffset() == timedelta(0)
    assert verified.expires_at == key.expires_at == verified.valid_until
    assert verified.last_used_at is None
    assert (verified.account_path, verified.account_name) == (demo.north.path, "Acme North")
    assert (verified.application_slug, verified.application_id) == ("incharge", demo.incharge.pk)
    assert verified.rate_limit == key.rate_limit_per_minute == 500
    assert not verified.via_grace_period


def test_a_grace_period_secret_is_valid_until_the_grace_period_ends(demo, make_key):
    issued = make_key()
    renewed = services.regenerate_key(
        actor=Actor.system(demo.acme.pk), key=issued.key, grace_period=timedelta(hours=1)
    )
    verified_keys.clear()
    old = services.verify_key(presented=issued.secret)
    assert old.via_grace_period and old.valid_until == renewed.key.previous_expires_at
    assert not services.verify_key(presented=renewed.secret).via_grace_period
