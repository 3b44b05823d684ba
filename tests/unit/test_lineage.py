"""The rule for keys made by keys: never wider than the parent; exposure follows the key through
which a secret was seen, and stops when someone else regenerates the child."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from keys import lineage
from keys.members import deactivate_member, keys_exposed_by
from keys.models import ApiKey
from keys.services import regenerate_key, verify_key
from tests.helpers import services
from tests.helpers.services import user_actor

pytestmark = pytest.mark.django_db


def _as_key(issued) -> Actor:
    return Actor.for_key(verify_key(presented=issued.secret))


def _child(demo, parent, **overrides):
    params = dict(role=Role.ADMIN_API, name="child", scopes=["api-keys:read"])
    return services.make_key(demo, actor=_as_key(parent), **{**params, **overrides})


def _bobs_key(demo, bob):
    """A portal key with api-keys:write whose secret Bob saw."""
    return services.make_key(
        demo, actor=user_actor(demo, bob.email), role=Role.ADMIN_API, name="bob's", scopes=["api-keys:write"]
    )


def test_a_child_asking_for_the_days_its_parent_has_left_ends_with_it(demo, make_key):
    parent = make_key(scopes=["api-keys:write"], expires_in_days=2)
    ApiKey.objects.filter(pk=parent.key.pk).update(expires_at=timezone.now() + timedelta(days=1, hours=1))
    parent.key.refresh_from_db()
    # 1 day fits; 2 days is the parent's 1 day and 1 hour rounded up: it ends with the parent.
    assert _child(demo, parent, name="one", expires_in_days=1).key.expires_at < parent.key.expires_at
    assert _child(demo, parent, name="two", expires_in_days=2).key.expires_at == parent.key.expires_at
    with pytest.raises(lineage.ExceedsParentKey, match="expires_in_days of at most 2"):
        _child(demo, parent, name="three", expires_in_days=3)


def test_write_grants_read_and_nothing_else(demo, make_key):
    parent = make_key(scopes=["api-keys:write"])
    assert _child(demo, parent, scopes=["api-keys:read", "api-keys:write"]).key.scopes
    with pytest.raises(lineage.ExceedsParentKey, match="lacks api-keys:verify") as refused:
        _child(demo, parent, name="verifier", scopes=["api-keys:verify"])
    assert (refused.value.status, refused.value.code) == (403, "exceeds_parent_key")


def test_networks_must_lie_inside_the_parents(demo, make_key):
    parent = make_key(scopes=["api-keys:write"], allowed_ips=["192.0.2.0/24", "2001:db8::/32"])
    assert _child(demo, parent, allowed_ips=["192.0.2.7", "2001:db8:1::/48"]).key.allowed_ips
    with pytest.raises(lineage.ExceedsParentKey, match=re.escape("192.0.3.0/24 is outside")):
        _child(demo, parent, name="out", allowed_ips=["192.0.2.8", "192.0.3.0/24"])
    with pytest.raises(lineage.ExceedsParentKey, match=re.escape("only from 192.0.2.0/24, 2001:db8::/32")):
        _child(demo, parent, name="anywhere", allowed_ips=[])


def test_an_exposed_parent_makes_exposed_children(demo, make_user, make_key):
    bob = make_user("bob@acme.test", Role.ADVANCED_ADMIN)
    parent = _bobs_key(demo, bob)
    deactivate_member(actor=user_actor(demo), member=bob)
    child = _child(demo, parent).key
    assert child.exposed and "exposed key bob's" in child.exposed_reason


def test_exposure_follows_the_secret_through_regeneration_and_grace(demo, make_user, make_key):
    bob = make_user("bob@acme.test", Role.ADVANCED_ADMIN)
    parent = _bobs_key(demo, bob)
    replaced = _child(demo, parent, name="replaced by ada").key
    in_grace = _child(demo, parent, name="old secret in grace").key
    regenerate_key(actor=user_actor(demo), key=replaced)  # Ada saw the new secret, not the parent
    regenerate_key(actor=user_actor(demo), key=in_grace, grace_period=timedelta(hours=1))
    ada = user_actor(demo)
    listed = keys_exposed_by(ada, bob)
    assert [(e.key.name, e.via_key, e.previous) for e in listed] == [
        ("bob's", False, False),
        ("old secret in grace", True, True),
    ]
    done = deactivate_member(actor=ada, member=bob)
    assert {k.name for k in done.exposed} == {"bob's", "old secret in grace"}
    grace = ApiKey.objects.get(pk=in_grace.pk)
    assert grace.previous_exposed_at is not None and grace.exposed_at is None and grace.exposed
    assert not ApiKey.objects.get(pk=replaced.pk).exposed
