"""The demo keys seed_demo makes: what a first look at the portal should find, and that they obey
every rule a real key does (they are made through the same services, as demo members)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import permissions
from accounts.actors import Actor
from accounts.models import Membership, Role, ScopeAction, User
from audit.models import AuditAction, AuditEvent
from keys.demo import DEMO_KEYS, DOCUMENTATION_NETWORKS, HISTORY_DAYS
from keys.models import ApiKey, KeyStatus, KeyUsageDay
from keys.services import clean_scopes
from tests.helpers import demo as demo_data

pytestmark = pytest.mark.django_db

ACME = {
    "SAP ERP Integration",
    "SCADA BMS Integration",
    "Field Technician App",
    "Data Warehouse ETL",
    "Production Dashboard",
    "CI Pipeline",
    "Billing Export (legacy)",
    "Webhook Relay",
}
GLOBEX = {"Maintenance Planner", "IoT Gateway"}


def _usage(key: ApiKey) -> list[KeyUsageDay]:
    return list(KeyUsageDay.objects.filter(key=key).order_by("day"))


def test_the_demo_keys_of_each_organization(demo, demo_keys):
    assert {k.name for k in demo_keys.values() if k.organization == demo.acme} == ACME
    assert {k.name for k in demo_keys.values() if k.organization == demo.globex} == GLOBEX
    by_name = demo_keys
    assert (by_name["SAP ERP Integration"].application, by_name["SAP ERP Integration"].scopes) == (
        demo.infodeck,
        ["work-orders:read", "assets:read"],
    )
    for name in ("SCADA BMS Integration", "Field Technician App"):
        assert by_name[name].scopes == ["work-orders:write", "assets:read"]
    every_read = [str(s) for s in demo.infodeck.scopes.all() if s.action == ScopeAction.READ]
    assert len(every_read) == 6 and by_name["Data Warehouse ETL"].scopes == every_read
    assert by_name["Production Dashboard"].application == demo.incharge
    assert by_name["Production Dashboard"].scopes == ["charge-points:read", "analytics:read"]
    assert by_name["CI Pipeline"].scopes == ["charge-points:read"]
    # Spread over the account tree and made by more than one member.
    assert {k.account for k in by_name.values() if k.organization == demo.acme} == {
        demo.acme_root,
        demo.north,
        demo.south,
    }
    assert {k.created_by.email for k in by_name.values() if k.organization == demo.acme} == {
        "advanced@acme.test",
        "adminapi@acme.test",
    }


def test_each_state_the_list_can_show_has_a_demo_key(demo_keys):
    now = timezone.now()
    statuses = {name: key.status_at(now) for name, key in demo_keys.items()}
    assert statuses.pop("Billing Export (legacy)") == KeyStatus.REVOKED
    assert set(statuses.values()) == {KeyStatus.ACTIVE}

    ci = demo_keys["CI Pipeline"]
    assert ci.expiring_soon and timedelta(days=4) < ci.expires_at - now <= timedelta(days=5)
    idle = demo_keys["Webhook Relay"]
    assert idle.idle and now - idle.last_used_at > timedelta(days=119)
    assert demo_keys["Data Warehouse ETL"].rotation_due
    sap = demo_keys["SAP ERP Integration"]
    assert sap.grace_active and sap.previous_expires_at - now > timedelta(hours=23)
    assert {name for name, key in demo_keys.items() if key.expiring_soon} == {"CI Pipeline"}
    assert {name for name, key in demo_keys.items() if key.idle} == {"Webhook Relay"}


def test_their_audit_events_are_the_services_own(demo_keys):
    events = AuditEvent.objects.select_related("key", "actor_user")
    created = {e.key.name: e for e in events.filter(action=AuditAction.KEY_CREATED)}
    assert set(created) == ACME | GLOBEX
    for name, event in created.items():
        assert event.actor_user == demo_keys[name].created_by, name
    (regenerated,) = events.filter(action=AuditAction.KEY_REGENERATED)
    assert regenerated.key.name == "SAP ERP Integration"
    assert regenerated.details["grace_period_seconds"] == 24 * 3600
    (revoked,) = events.filter(action=AuditAction.KEY_REVOKED)
    assert revoked.key.name == "Billing Export (legacy)"
    assert events.count() == len(created) + 2


def test_each_key_created_event_is_dated_when_the_demo_says_the_key_was_created(demo_keys):
    created = AuditEvent.objects.filter(action=AuditAction.KEY_CREATED).select_related("key")
    for event in created:
        assert event.occurred_at == event.key.created_at, event.key.name
    oldest = min(e.occurred_at for e in created)
    assert timezone.now() - oldest > timedelta(days=200)  # Webhook Relay, 210 days ago
    # What came after the history happened now, after the key's creation.
    (revoked,) = AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED)
    assert timezone.now() - revoked.occurred_at < timedelta(minutes=5)


def test_thirty_days_of_believable_usage_for_each_live_key(demo_keys):
    today = timezone.now().date()
    window = today - timedelta(days=HISTORY_DAYS - 1)
    rate_limited = set()
    for name, key in demo_keys.items():
        rows = _usage(key)
        assert rows, name
        for row in rows:
            parts = row.success + row.client_errors + row.denied + row.rate_limited + row.server_errors
            assert row.total == parts and row.success > 0, (name, row.day)
        assert sum(r.client_errors + r.denied + r.server_errors for r in rows) > 0, name
        if any(r.rate_limited for r in rows):
            rate_limited.add(name)
        assert rows[0].day >= key.created_at.date(), name
        if name in ("Webhook Relay", "Billing Export (legacy)"):
            continue
        # Every day of the chart, today's too (as much of today as has gone by).
        assert [r.day for r in rows] == [window + timedelta(days=n) for n in range(HISTORY_DAYS)], name
    assert rate_limited == {"Production Dashboard"}
    limited = sum(r.rate_limited for r in _usage(demo_keys["Production Dashboard"]))
    assert 0 < limited < 100  # a handful, not a flood

    erp = [r for r in _usage(demo_keys["SAP ERP Integration"]) if r.day < today]
    weekdays = [r.total for r in erp if r.day.weekday() < 5]
    weekends = [r.total for r in erp if r.day.weekday() >= 5]
    assert min(weekdays) > 3 * max(weekends)  # office hours, not a flat line

    idle = _usage(demo_keys["Webhook Relay"])
    assert len(idle) == HISTORY_DAYS and idle[-1].day == today - timedelta(days=120)
    assert idle[-1].day == demo_keys["Webhook Relay"].last_used_at.date()


def test_last_used_and_recent_addresses_come_from_documentation_ranges(demo_keys):
    families = set()
    for name, key in demo_keys.items():
        entries = key.recent_ips
        assert 1 <= len(entries) <= 5, name
        seen = [parse_datetime(e["seen"]) for e in entries]
        assert seen == sorted(seen, reverse=True) and seen[0] == key.last_used_at, name
        assert key.last_used_at.date() == _usage(key)[-1].day, name
        for entry in entries:
            address = ipaddress.ip_address(entry["ip"])
            assert any(address in n for n in DOCUMENTATION_NETWORKS), (name, address)
            families.add(address.version)
    assert families == {4, 6}


def test_demo_keys_obey_the_rules_of_real_keys(demo, demo_keys):
    for name, key in demo_keys.items():
        creator = key.created_by
        assert key.organization_id == key.application.organization_id == key.account.organization_id
        assert creator.organization_id == key.organization_id, name
        # In the application's catalogue and allowed for the key's role: the service's own check.
        assert clean_scopes(key.application, key.role, key.scopes) == key.scopes, name
        # A key's role never exceeds its creator's; Admin + API made Admin + API keys or lower.
        assert key.role <= creator.top_role, name
        assert permissions.may_create_key(Actor.for_user(creator), role=key.role, account=key.account), name
    made_by_admin_api = [k for k in demo_keys.values() if k.created_by.email == "adminapi@acme.test"]
    assert made_by_admin_api and max(k.role for k in made_by_admin_api) == Role.ADMIN_API
    assert demo.globex.key_limit == 10
    assert ApiKey.objects.filter(organization=demo.globex).in_use().count() == 2


def test_a_full_globex_gets_no_more_keys_than_its_plan_allows(demo, make_key):
    for _ in range(9):
        make_key(organization=demo.globex)
    output = demo_data.seed(keys=True)
    assert "Demo key not made: IoT Gateway: 10 of 10 keys in use" in output
    assert ApiKey.objects.filter(organization=demo.globex).in_use().count() == 10
    assert ApiKey.objects.filter(name="Maintenance Planner").exists()


def test_a_deactivated_demo_member_makes_no_keys_and_no_refusals(demo):
    User.objects.filter(email="adminapi@acme.test").update(is_active=False)
    output = demo_data.seed(keys=True)
    assert "adminapi@acme.test may not create" in output
    made = set(ApiKey.objects.values_list("name", flat=True))
    assert made == {s.name for s in DEMO_KEYS if s.created_by != "adminapi@acme.test"}
    assert not AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).exists()
    assert Membership.objects.filter(user__email="adminapi@acme.test").exists()
