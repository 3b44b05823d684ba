"""The key lifecycle services: rules, quotas, grace periods, revocation, audit rows, digest-only storage."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from audit.services import door_transaction
from keys import credentials, services
from keys.errors import ServiceError
from keys.models import ApiKey
from keys.scopes import canonical_scope
from keys.services import create_key, regenerate_key, revoke_key, update_key, verify_key
from tests.helpers.services import create, user_actor

pytestmark = pytest.mark.django_db


def test_create_stores_only_a_digest_and_writes_an_audit_event(demo):
    issued = create(demo)
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.secret_digest == credentials.digest(issued.secret, credentials.current_pepper())
    assert key.pepper_id == credentials.current_pepper().id
    assert key.client_id.startswith("ck_live_")
    assert issued.secret.startswith("sk_live_")
    assert key.scopes == ["charge-points:write", "billing:read"]  # catalogue order
    assert key.created_by.email == "advanced@acme.test"
    assert timedelta(days=29, hours=23) < key.expires_at - timezone.now() <= timedelta(days=30)
    # The plaintext is in no column of any table.
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            assert issued.secret not in repr(cursor.fetchall())
    event = AuditEvent.objects.get(action=AuditAction.KEY_CREATED)
    assert (event.key, event.actor_label, event.ip, event.organization) == (
        key,
        "advanced@acme.test",
        "203.0.113.7",
        demo.acme,
    )
    assert issued.secret not in repr(issued)


def test_verify_accepts_the_secret_and_client_id_pair(demo):
    issued = create(demo)
    assert verify_key(presented=issued.secret).id == issued.key.pk
    assert verify_key(presented=f"{issued.key.client_id}:{issued.secret}").id == issued.key.pk
    other = create(demo, name="other")
    assert verify_key(presented=f"{other.key.client_id}:{issued.secret}") is None
    assert verify_key(presented=credentials.new_secret("live")) is None


def test_write_implies_read(demo):
    key = verify_key(presented=create(demo).secret)
    assert key.has_scope("charge-points:write") and key.has_scope("charge-points:read")
    assert not key.has_scope("billing:write")


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"name": ""}, "validation_error", "name"),
        ({"name": "x" * 129}, "validation_error", "name"),
        ({"name": "bad\x00name"}, "validation_error", "name"),
        ({"scopes": []}, "validation_error", "scopes"),
        ({"scopes": ["billing:read", "nope:read"]}, "invalid_scope", "scopes"),
        ({"scopes": ["api-keys:read"]}, "invalid_scope", "scopes"),  # another application's scope
        ({"expires_in_days": 0}, "validation_error", "expires_in_days"),
        ({"expires_in_days": 3651}, "validation_error", "expires_in_days"),
        ({"role": Role.SUPPORT, "scopes": ["billing:write"]}, "invalid_scope", "scopes"),
        ({"role": Role.VIEWER, "scopes": ["sessions:write"]}, "invalid_scope", "scopes"),
        ({"role": 99}, "validation_error", "role"),
    ],
)
def test_create_refusals(demo, overrides, code, field):
    with pytest.raises(ServiceError) as refused:
        create(demo, **overrides)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not ApiKey.objects.exists()


def test_name_is_unique_among_live_keys_only(demo):
    first = create(demo, name="Nightly export")
    with pytest.raises(ServiceError) as refused:
        create(demo, name="nightly EXPORT")
    assert refused.value.code == "name_taken"
    revoke_key(actor=user_actor(demo), key=first.key)
    assert create(demo, name="Nightly export").key.name == "Nightly export"
    # Another organization may use the same name.
    globex = Actor.for_user(demo.user("advanced@globex.test"))
    create_key(
        actor=globex,
        application=demo.globex_portal,
        account=demo.globex_root,
        role=Role.ADMIN,
        name="Nightly export",
        scopes=["api-keys:read"],
    )


@pytest.mark.parametrize(
    ("email", "role", "account_name", "allowed"),
    [
        ("advanced@acme.test", Role.ADVANCED_ADMIN, "Acme South", True),
        ("adminapi@acme.test", Role.ADMIN_API, "Acme South", True),
        ("adminapi@acme.test", Role.ADVANCED_ADMIN, "Acme South", False),
        ("admin@acme.test", Role.VIEWER, "Acme South", False),
        ("support@acme.test", Role.VIEWER, "Acme South", False),
        ("viewer@acme.test", Role.VIEWER, "Acme South", False),
    ],
)
def test_role_rules_enforced_in_the_service(demo, email, role, account_name, allowed):
    from accounts.models import Account

    actor = user_actor(demo, email)
    account = Account.objects.get(organization=demo.acme, name=account_name)
    if allowed:
        assert create(demo, actor=actor, role=role, account=account, scopes=["billing:read"]).key.role == role
    else:
        with pytest.raises(ServiceError) as refused:
            create(demo, actor=actor, role=role, account=account, scopes=["billing:read"])
        assert (refused.value.code, refused.value.status) == ("forbidden", 403)
        assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, actor_label=email).exists()


def test_other_organizations_objects_are_not_found(demo):
    globex = Actor.for_user(demo.user("advanced@globex.test"))
    with pytest.raises(ServiceError) as refused:
        create(demo, actor=globex)
    assert refused.value.status == 404


def test_key_limit_of_the_plan(demo, make_key):
    demo.acme.key_limit_override = 2
    demo.acme.save()
    make_key()
    make_key()
    with pytest.raises(ServiceError) as refused:
        make_key()
    assert refused.value.code == "key_limit_reached"
    assert refused.value.message == "2 of 2 keys in use — revoke a key or upgrade the plan."
    revoke_key(actor=Actor.system(demo.acme.pk), key=ApiKey.objects.first())
    make_key()  # a revoked key frees its slot


def test_professional_plan_allows_ten_keys(demo, make_key):
    for _ in range(10):
        make_key(organization=demo.globex)
    with pytest.raises(ServiceError, match="10 of 10 keys in use"):
        make_key(organization=demo.globex)


def test_regenerate_without_grace_stops_the_old_secret_at_once(demo):
    issued = create(demo)
    assert verify_key(presented=issued.secret) is not None  # now cached in this process
    renewed = regenerate_key(actor=user_actor(demo), key=issued.key)
    assert verify_key(presented=issued.secret) is None
    assert verify_key(presented=renewed.secret).id == issued.key.pk
    assert renewed.key.client_id == issued.key.client_id
    assert AuditEvent.objects.filter(action=AuditAction.KEY_REGENERATED, key=issued.key).count() == 1


def test_grace_period_keeps_the_old_secret_until_it_ends(demo):
    issued = create(demo)
    renewed = regenerate_key(actor=user_actor(demo), key=issued.key, grace_period=timedelta(hours=1))
    old = verify_key(presented=issued.secret)
    assert old is not None and old.via_grace_period
    assert verify_key(presented=renewed.secret) is not None
    # Run the clock past the grace period.
    ApiKey.objects.filter(pk=issued.key.pk).update(previous_expires_at=timezone.now() - timedelta(seconds=1))
    services.verified_keys.clear()
    assert verify_key(presented=issued.secret) is None
    assert verify_key(presented=renewed.secret) is not None


def test_grace_period_never_outlives_the_key(demo):
    issued = create(demo, expires_in_days=1)
    regenerate_key(actor=user_actor(demo), key=issued.key, grace_period=timedelta(days=7))
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.previous_expires_at == key.expires_at


def test_grace_period_bounds(demo):
    issued = create(demo)
    for bad in (timedelta(seconds=-1), timedelta(days=7, seconds=1)):
        with pytest.raises(ServiceError):
            regenerate_key(actor=user_actor(demo), key=issued.key, grace_period=bad)


def test_grace_period_is_clamped_by_an_earlier_expiry_change(make_key, demo):
    from django.utils import timezone

    from accounts.actors import Actor
    from keys.models import ApiKey
    from keys.services import regenerate_key, update_key

    issued = make_key(expires_in_days=30)
    actor = Actor.system(demo.acme.pk)
    regenerate_key(actor=actor, key=issued.key, grace_period=timedelta(days=7))
    sooner = timezone.now() + timedelta(days=1)
    update_key(actor=actor, key=ApiKey.objects.get(pk=issued.key.pk), expires_at=sooner)
    assert ApiKey.objects.get(pk=issued.key.pk).previous_expires_at == sooner


def test_revoke_is_immediate_and_ends_the_grace_period(demo):
    issued = create(demo)
    renewed = regenerate_key(actor=user_actor(demo), key=issued.key, grace_period=timedelta(days=1))
    assert verify_key(presented=issued.secret) is not None
    revoked = revoke_key(actor=user_actor(demo), key=renewed.key)
    assert revoked.status == "revoked" and revoked.revoked_by_label == "advanced@acme.test"
    assert verify_key(presented=issued.secret) is None
    assert verify_key(presented=renewed.secret) is None
    # Twice changes nothing; a revoked key cannot be regenerated.
    revoke_key(actor=user_actor(demo), key=revoked)
    assert AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED).count() == 1
    with pytest.raises(ServiceError, match="revoked"):
        regenerate_key(actor=user_actor(demo), key=revoked)


def test_expired_key_is_refused(demo):
    issued = create(demo)
    ApiKey.objects.filter(pk=issued.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert verify_key(presented=issued.secret) is None
    assert ApiKey.objects.get(pk=issued.key.pk).status == "expired"


def test_pepper_rotation(demo, settings):
    settings.KEY_PEPPERS = ["old-pepper"]
    old_key = create(demo, name="made under the old pepper")
    settings.KEY_PEPPERS = ["new-pepper", "old-pepper"]
    services.verified_keys.clear()
    assert verify_key(presented=old_key.secret) is not None
    new_key = create(demo, name="made under the new pepper")
    assert ApiKey.objects.get(pk=new_key.key.pk).pepper_id == credentials.current_pepper().id
    # Once the old pepper is removed, keys made under it stop working.
    settings.KEY_PEPPERS = ["new-pepper"]
    services.verified_keys.clear()
    assert verify_key(presented=old_key.secret) is None
    assert verify_key(presented=new_key.secret) is not None


def test_update_renames_and_only_shortens(demo):
    issued = create(demo, expires_in_days=30)
    actor = user_actor(demo)
    key = update_key(actor=actor, key=issued.key, name="Renamed")
    assert key.name == "Renamed"
    sooner = timezone.now() + timedelta(days=3)
    assert update_key(actor=actor, key=key, expires_at=sooner).expires_at == sooner
    with pytest.raises(ServiceError, match="earlier"):
        update_key(actor=actor, key=key, expires_at=timezone.now() + timedelta(days=10))
    assert AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED).count() == 2


def test_admin_api_cannot_manage_an_advanced_key(demo):
    issued = create(demo, role=Role.ADVANCED_ADMIN)
    actor = user_actor(demo, "adminapi@acme.test")
    for attempt in (
        lambda: regenerate_key(actor=actor, key=issued.key),
        lambda: revoke_key(actor=actor, key=issued.key),
        lambda: update_key(actor=actor, key=issued.key, name="mine now"),
    ):
        with pytest.raises(ServiceError) as refused:
            attempt()
        assert refused.value.status == 403
    assert verify_key(presented=issued.secret) is not None


# ---- disable and enable ----


def test_disable_pauses_the_key_and_enable_brings_the_same_secret_back(demo):
    issued = create(demo)
    actor = user_actor(demo)
    assert verify_key(presented=issued.secret) is not None
    disabled = services.disable_key(actor=actor, key=issued.key)
    assert disabled.status == "disabled" and disabled.disabled_at is not None
    assert verify_key(presented=issued.secret) is None  # at once, in this worker
    assert (
        services.disable_key(actor=actor, key=disabled).disabled_at == disabled.disabled_at
    )  # twice: no change
    enabled = services.enable_key(actor=actor, key=disabled)
    assert enabled.status == "active" and verify_key(presented=issued.secret).id == issued.key.pk
    actions = list(
        AuditEvent.objects.filter(key=issued.key)
        .order_by("occurred_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == [AuditAction.KEY_CREATED, AuditAction.KEY_DISABLED, AuditAction.KEY_ENABLED]


def test_a_disabled_keys_grace_period_secret_is_refused_too(demo):
    issued = create(demo)
    actor = user_actor(demo)
    renewed = regenerate_key(actor=actor, key=issued.key, grace_period=timedelta(hours=1))
    assert verify_key(presented=issued.secret) is not None
    services.disable_key(actor=actor, key=renewed.key)
    assert verify_key(presented=issued.secret) is None and verify_key(presented=renewed.secret) is None


def test_only_an_active_key_is_disabled_and_only_a_disabled_one_enabled(demo):
    actor = user_actor(demo)
    revoked = create(demo, name="revoked")
    revoke_key(actor=actor, key=revoked.key)
    expired = create(demo, name="expired")
    services.disable_key(actor=actor, key=expired.key)
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for call, key in (
        (services.disable_key, revoked.key),
        (services.enable_key, revoked.key),
        (services.enable_key, ApiKey.objects.get(pk=expired.key.pk)),
    ):
        with pytest.raises(ServiceError) as refused:
            call(actor=actor, key=key)
        assert (refused.value.code, refused.value.status) == ("key_not_active", 409)
    disabled = create(demo, name="disabled")
    services.disable_key(actor=actor, key=disabled.key)
    with pytest.raises(ServiceError, match="disabled"):
        regenerate_key(actor=actor, key=ApiKey.objects.get(pk=disabled.key.pk))


def test_disabling_follows_the_same_role_rules_as_revoking(demo):
    above = create(demo, role=Role.ADVANCED_ADMIN, name="above")
    for email in ("adminapi@acme.test", "support@acme.test"):
        with pytest.raises(ServiceError) as refused:
            services.disable_key(actor=user_actor(demo, email), key=above.key)
        assert refused.value.status == 403
    assert ApiKey.objects.get(pk=above.key.pk).disabled_at is None


def test_a_disabled_key_still_counts_against_the_plan(demo, make_key):
    for n in range(10):
        make_key(organization=demo.globex, name=f"globex {n}", scopes=["api-keys:read"])
    key = ApiKey.objects.filter(organization=demo.globex).first()
    services.disable_key(actor=Actor.system(demo.globex.pk), key=key)
    with pytest.raises(ServiceError) as refused:
        make_key(organization=demo.globex, name="eleventh", scopes=["api-keys:read"])
    assert refused.value.code == "key_limit_reached"


# ---- scope names from older documentation ----


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("read:charge_points", "charge-points:read"),
        ("write:work_orders", "work-orders:write"),
        ("verify:api_keys", "api-keys:verify"),
        ("charge-points:read", "charge-points:read"),
        (" read:billing ", "billing:read"),
        ("nonsense", "nonsense"),
    ],
)
def test_old_scope_names_are_aliases(given, canonical):
    assert canonical_scope(given) == canonical


def test_a_key_created_with_old_scope_names_stores_the_new_ones(demo):
    issued = create(demo, scopes=["read:billing", "write:charge_points", "billing:read"])
    assert sorted(issued.key.scopes) == ["billing:read", "charge-points:write"]


# ---- allowed networks ----


def test_a_key_keeps_its_allowed_networks_and_the_audit_event_names_them(demo):
    issued = create(demo, allowed_ips=["192.0.2.0/24", " 2001:DB8::/32", "192.0.2.0/24"])
    assert issued.key.allowed_ips == ["192.0.2.0/24", "2001:db8::/32"]
    event = AuditEvent.objects.get(action=AuditAction.KEY_CREATED, key=issued.key)
    assert event.details["allowed_ips"] == ["192.0.2.0/24", "2001:db8::/32"]
    verified = verify_key(presented=issued.secret)
    assert verified.allowed_ips == ("192.0.2.0/24", "2001:db8::/32")
    assert verified.allows_ip("192.0.2.9") and not verified.allows_ip("198.51.100.1")
    assert create(demo, name="anywhere").key.allowed_ips == []


def test_a_bad_network_refuses_the_whole_key(demo):
    with pytest.raises(ServiceError) as refused:
        create(demo, allowed_ips=["192.0.2.0/24", "10.0.0.1/8"])
    assert (refused.value.code, refused.value.field) == ("validation_error", "allowed_ips")
    assert "did you mean 10.0.0.0/8" in refused.value.message
    assert not ApiKey.objects.exists()


def test_allowed_networks_can_be_narrowed_and_never_widened(demo):
    actor = user_actor(demo)
    key = create(demo).key
    # Anywhere → a network narrows; a network inside it narrows again.
    key = update_key(actor=actor, key=key, allowed_ips=["192.0.2.0/24", "2001:db8::/32"])
    key = update_key(actor=actor, key=key, allowed_ips=["192.0.2.128/25", "2001:db8:1::/48"])
    assert key.allowed_ips == ["192.0.2.128/25", "2001:db8:1::/48"]
    changes = AuditEvent.objects.filter(action=AuditAction.KEY_UPDATED, key=key).order_by("pk")
    assert [e.details["allowed_ips"] for e in changes] == [
        [[], ["192.0.2.0/24", "2001:db8::/32"]],
        [["192.0.2.0/24", "2001:db8::/32"], ["192.0.2.128/25", "2001:db8:1::/48"]],
    ]
    with pytest.raises(ServiceError, match=r"198\.51\.100\.0/24 is outside the networks") as refused:
        update_key(actor=actor, key=key, allowed_ips=["192.0.2.128/25", "198.51.100.0/24"])
    assert refused.value.field == "allowed_ips"
    with pytest.raises(ServiceError, match="would let the key work from anywhere"):
        update_key(actor=actor, key=key, allowed_ips=[])
    assert ApiKey.objects.get(pk=key.pk).allowed_ips == ["192.0.2.128/25", "2001:db8:1::/48"]
    # The cached verification of this process follows the change at once.
    issued = create(demo, name="cached")
    assert verify_key(presented=issued.secret).allows_ip("198.51.100.1")
    update_key(actor=actor, key=issued.key, allowed_ips=["192.0.2.1"])
    assert not verify_key(presented=issued.secret).allows_ip("198.51.100.1")


# ---- rules that compose inside the caller's transaction; doors that refuse to nest ----


def test_revoking_two_keys_in_one_transaction_is_all_or_nothing(demo):
    """A flow composes the rules in one door transaction: the second key refused, the first is not
    revoked either, and the refusal is still audited (written after the rollback)."""
    mine = create(demo, name="mine").key
    wider = create(demo, name="wider", role=Role.ADVANCED_ADMIN, scopes=["billing:read"]).key
    actor = user_actor(demo, "adminapi@acme.test")
    with pytest.raises(ServiceError) as refused, door_transaction():
        services.do_revoke_key(actor=actor, key=mine)
        assert ApiKey.objects.get(pk=mine.pk).revoked_at is not None  # written, not yet committed
        services.do_revoke_key(actor=actor, key=wider)
    assert refused.value.code == "forbidden"
    assert ApiKey.objects.filter(pk__in=[mine.pk, wider.pk], revoked_at__isnull=True).count() == 2
    assert not AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED).exists()
    denied = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert (denied.key_id, denied.details["attempted"]) == (wider.pk, "revoke key")


def test_a_refusal_the_flow_gets_past_is_audited_once_its_transaction_commits(demo):
    """A rule checks before it writes, so a flow may go on past one that refused."""
    mine = create(demo, name="mine").key
    wider = create(demo, name="wider", role=Role.ADVANCED_ADMIN, scopes=["billing:read"]).key
    actor = user_actor(demo, "adminapi@acme.test")
    with door_transaction():
        with pytest.raises(ServiceError, match="may not revoke"):
            services.do_revoke_key(actor=actor, key=wider)
        assert not AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).exists()
        services.do_revoke_key(actor=actor, key=mine)
    assert ApiKey.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=wider.pk).revoked_at is None
    assert AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED).key_id == wider.pk


def test_rules_compose_inside_one_transaction(demo):
    first, second = create(demo, name="first").key, create(demo, name="second").key
    with door_transaction():
        for key in (first, second):
            services.do_revoke_key(actor=user_actor(demo), key=key)
    assert ApiKey.objects.filter(pk__in=[first.pk, second.pk], revoked_at__isnull=False).count() == 2
    assert AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED).count() == 2


@pytest.mark.parametrize(
    "door",
    [
        lambda demo, key: revoke_key(actor=user_actor(demo), key=key),
        lambda demo, key: regenerate_key(actor=user_actor(demo), key=key),
        lambda demo, key: update_key(actor=user_actor(demo), key=key, name="renamed"),
        lambda demo, key: services.disable_key(actor=user_actor(demo), key=key),
        lambda demo, key: create(demo, name="another"),
    ],
)
def test_a_door_refuses_to_run_inside_another_transaction(demo, door):
    """A door's transaction is durable: a caller's rollback cannot undo what the verification cache
    already forgot. A caller that needs several changes in one transaction composes the rules."""
    key = create(demo).key
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        door(demo, key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
