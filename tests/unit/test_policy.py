"""The organization's security policy: who may change it, what a change records, how it is enforced
on every new key, and which existing keys it leaves behind."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Organization, Role
from audit.models import AuditAction, AuditEvent
from keys import policy
from keys.errors import ErrorCode, ServiceError
from keys.models import ApiKey, KeyFlag
from keys.policy import SecurityPolicy, update_policy
from tests.helpers.services import create, set_policy, user_actor

pytestmark = pytest.mark.django_db


def test_an_advanced_admin_changes_the_policy_and_the_change_is_audited(demo):
    changes = update_policy(
        actor=user_actor(demo),
        rotation_policy_days=30,
        max_key_lifetime_days=90,
        require_ip_allowlist=True,
    )
    assert changes == {
        "rotation_policy_days": [90, 30],
        "max_key_lifetime_days": [None, 90],
        "require_ip_allowlist": [False, True],
    }
    acme = Organization.objects.get(pk=demo.acme.pk)
    assert SecurityPolicy.of(acme) == SecurityPolicy(30, 90, True)
    assert acme.policy_updated_at is not None
    event = AuditEvent.objects.get(action=AuditAction.POLICY_UPDATED)
    assert (event.organization_id, event.actor_label, event.details) == (
        demo.acme.pk,
        "advanced@acme.test",
        changes,
    )
    assert event.details_text == (
        "rotation period (days): 90 → 30 · maximum key lifetime (days): no limit → 90"
        " · require allowed networks: off → on"
    )
    # Saving the same policy again changes and records nothing.
    assert update_policy(actor=user_actor(demo), **vars(SecurityPolicy(30, 90, True))) == {}
    assert AuditEvent.objects.filter(action=AuditAction.POLICY_UPDATED).count() == 1
    # Globex's policy is its own.
    assert SecurityPolicy.of(Organization.objects.get(pk=demo.globex.pk)) == SecurityPolicy()


@pytest.mark.parametrize("email", ["adminapi@acme.test", "support@acme.test", "viewer@acme.test", "north"])
def test_only_an_advanced_admin_of_the_whole_organization_may_change_it(demo, make_user, email):
    if email == "north":  # an Advanced Admin of a sub-account only
        email = make_user("north-boss@acme.test", Role.ADVANCED_ADMIN, demo.north).email
    with pytest.raises(ServiceError) as refused:
        update_policy(actor=user_actor(demo, email), **vars(SecurityPolicy(30, None, False)))
    assert (refused.value.code, refused.value.status) == ("forbidden", 403)
    assert SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk)) == SecurityPolicy()
    denied = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert denied.details["attempted"] == "change security policy"


def test_a_key_may_never_change_the_policy(demo, make_key):
    from keys.services import verify_key

    key = verify_key(presented=make_key().secret)
    with pytest.raises(ServiceError, match="Only an Advanced Admin"):
        update_policy(actor=Actor.for_key(key), **vars(SecurityPolicy(30, None, False)))


@pytest.mark.parametrize(
    "values, field, says",
    [
        ({"rotation_policy_days": 0}, "rotation_policy_days", "from 1 to 3650"),
        ({"rotation_policy_days": None}, "rotation_policy_days", "from 1 to 3650"),
        ({"max_key_lifetime_days": 3651}, "max_key_lifetime_days", "or empty for no limit"),
        ({"max_key_lifetime_days": 0}, "max_key_lifetime_days", "or empty for no limit"),
    ],
)
def test_out_of_range_values_are_refused_with_their_field(demo, values, field, says):
    with pytest.raises(ServiceError) as refused:
        update_policy(actor=user_actor(demo), **{**vars(SecurityPolicy()), **values})
    assert (refused.value.code, refused.value.field) == ("validation_error", field)
    assert says in refused.value.message


def test_a_maximum_lifetime_refuses_keys_that_would_outlive_it(demo):
    set_policy(demo, max_key_lifetime_days=90)
    for days, asked in ((None, "never to expire"), (91, "to expire in 91 days")):
        with pytest.raises(ServiceError) as refused:
            create(demo, expires_in_days=days)
        assert refused.value.field == "expires_in_days"
        assert "requires every key to expire within 90 days" in refused.value.message
        assert asked in refused.value.message
    assert create(demo, expires_in_days=90).key.expires_at is not None
    assert ApiKey.objects.count() == 1


def test_required_allowed_networks_refuse_keys_usable_from_anywhere(demo):
    set_policy(demo, require_ip_allowlist=True)
    with pytest.raises(ServiceError) as refused:
        create(demo)
    assert refused.value.field == "allowed_ips"
    assert "at least one allowed network" in refused.value.message
    assert create(demo, allowed_ips=["192.0.2.0/24"]).key.allowed_ips == ["192.0.2.0/24"]


@pytest.mark.parametrize("networks", [["0.0.0.0/0"], ["::/0"], ["192.0.2.0/24", "::/0"]])
def test_required_allowed_networks_do_not_count_a_whole_address_family(demo, networks):
    set_policy(demo, require_ip_allowlist=True)
    with pytest.raises(ServiceError) as refused:
        create(demo, allowed_ips=networks)
    assert refused.value.field == "allowed_ips" and "every address" in refused.value.message
    assert not ApiKey.objects.exists()
    assert create(demo, allowed_ips=["0.0.0.0/1", "128.0.0.0/1"]).key  # half the space each: limited


def test_an_existing_key_open_to_a_whole_address_family_is_outside_the_policy(demo, make_key):
    wide = make_key(name="wide", allowed_ips=["192.0.2.0/24", "::/0"]).key
    fenced = make_key(name="fenced", allowed_ips=["192.0.2.1", "2001:db8::/32"]).key
    set_policy(demo, require_ip_allowlist=True)
    now = SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk))
    keys = ApiKey.objects.filter(organization_id=demo.acme.pk).in_use()
    assert list(keys.filter(policy.network_filter(now))) == [wide]
    assert policy.breaches(now, wide) == ["works from anywhere (the policy requires allowed networks)"]
    assert policy.breaches(now, fenced) == []


def test_a_policy_change_leaves_existing_keys_alone_and_finds_those_outside(demo, make_key):
    forever = make_key(name="forever").key
    long_lived = make_key(name="long", expires_in_days=400).key
    fenced = make_key(name="fenced", expires_in_days=30, allowed_ips=["192.0.2.1"]).key
    make_key(name="revoked one")  # revoked keys do not count
    ApiKey.objects.filter(name="revoked one").update(revoked_at=timezone.now())
    acme = Organization.objects.get(pk=demo.acme.pk)
    outside = ApiKey.objects.filter(organization=acme).in_use()
    assert not outside.filter(policy.outside_filter(SecurityPolicy.of(acme))).exists()

    set_policy(demo, max_key_lifetime_days=365, require_ip_allowlist=True)
    now = SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk))
    assert set(outside.filter(policy.lifetime_filter(now))) == {forever, long_lived}
    assert set(outside.filter(policy.network_filter(now))) == {forever, long_lived}
    assert set(outside.filter(policy.outside_filter(now))) == {forever, long_lived}
    assert ApiKey.objects.get(pk=forever.pk).expires_at is None  # untouched
    assert policy.breaches(now, forever) == [
        "never expires (the policy allows 365 days)",
        "works from anywhere (the policy requires allowed networks)",
    ]
    assert policy.breaches(now, fenced) == []


def test_flag_filters_agree_with_the_flags_shown(demo, make_key):
    now = timezone.now()
    fresh = make_key(name="fresh", expires_in_days=3).key
    old = make_key(name="old").key
    ApiKey.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=120))
    rotated = make_key(name="rotated").key
    ApiKey.objects.filter(pk=rotated.pk).update(
        created_at=now - timedelta(days=120), regenerated_at=now - timedelta(days=5), last_used_at=now
    )
    keys = ApiKey.objects.select_related("organization")
    for flag in (KeyFlag.EXPIRING_SOON, KeyFlag.ROTATION_DUE, KeyFlag.IDLE):
        flagged = set(keys.with_flag(flag, 90))
        assert flagged == {k for k in keys if getattr(k, flag)}, flag
    assert set(keys.with_flag(KeyFlag.ROTATION_DUE, 90)) == {old}
    assert set(keys.with_flag(KeyFlag.EXPIRING_SOON, 90)) == {fresh}


def test_the_leak_policy_changes_like_the_rest_and_only_by_an_advanced_admin(demo):
    acme = Organization.objects.get(pk=demo.acme.pk)
    assert SecurityPolicy.of(acme).leak_policy == "revoke"  # the default
    current = {"rotation_policy_days": 90, "max_key_lifetime_days": None, "require_ip_allowlist": False}
    admin = Actor.for_user(demo.user("advanced@acme.test"))
    assert update_policy(actor=admin, **current, leak_policy="disable") == {
        "leak_policy": ["revoke", "disable"]
    }
    assert update_policy(actor=admin, **current) == {}  # not given: unchanged
    with pytest.raises(ServiceError) as refused:
        update_policy(actor=admin, **current, leak_policy="shred")
    assert (refused.value.code, refused.value.field) == (ErrorCode.VALIDATION_ERROR, "leak_policy")
    with pytest.raises(ServiceError) as refused:
        update_policy(actor=Actor.for_user(demo.user("adminapi@acme.test")), **current, leak_policy="flag")
    assert refused.value.code == ErrorCode.FORBIDDEN
    assert SecurityPolicy.of(Organization.objects.get(pk=demo.acme.pk)).leak_policy == "disable"
