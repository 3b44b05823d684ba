"""audit/services.py across every door: each create, regenerate, revoke, failed key authentication,
refused permission, sign-in and sign-out writes one event with its actor, organization, key, UTC
time and client address."""

from datetime import timedelta

import pytest

from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey

pytestmark = pytest.mark.django_db


def test_every_audited_action_records_actor_organization_key_utc_time_and_ip(demo, make_key, api):
    """Each create, regenerate, revoke, failed key authentication, refused permission and sign-in
    writes one event, through the interfaces people and programs use."""
    from datetime import UTC

    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role

    admin_key = make_key(name="automation")
    reader = make_key(name="reader only", role=Role.SUPPORT, scopes=["api-keys:read"])
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    from_client = {"REMOTE_ADDR": "198.51.100.7"}
    created = api(
        "post",
        "/api/v1/org/api-keys",
        admin_key.secret,
        json={"name": "erp", "scopes": ["api-keys:read"]},
        **from_client,
    )
    key_id = created.json()["id"]
    api("post", f"/api/v1/org/api-keys/{key_id}/regenerate", admin_key.secret, **from_client)
    denied = {"name": "denied", "scopes": ["api-keys:read"]}
    api("post", "/api/v1/org/api-keys", reader.secret, json=denied, **from_client)
    api("get", "/api/v1/key", "sk_live_" + "0" * 49, **from_client)
    api("delete", f"/api/v1/org/api-keys/{key_id}", admin_key.secret, **from_client)

    people = Client(REMOTE_ADDR="203.0.113.9")
    people.post("/login/", {"username": "viewer@acme.test", "password": "wrong"})
    people.post("/login/", {"username": "viewer@acme.test", "password": "acme-demo-2026"})
    people.get("/settings/api-keys/")  # a Viewer may not see keys: refused and recorded
    people.post("/logout/")

    erp = ApiKey.objects.get(pk=key_id)
    automation = f"key automation ({admin_key.key.client_id})"
    reader_label = f"key reader only ({reader.key.client_id})"
    expected = [
        (AuditAction.KEY_CREATED, automation, erp, "198.51.100.7"),
        (AuditAction.KEY_REGENERATED, automation, erp, "198.51.100.7"),
        (AuditAction.PERMISSION_DENIED, reader_label, None, "198.51.100.7"),
        (AuditAction.KEY_AUTH_FAILED, "unauthenticated API client", None, "198.51.100.7"),
        (AuditAction.KEY_REVOKED, automation, erp, "198.51.100.7"),
        (AuditAction.LOGIN_FAILED, "viewer@acme.test", None, "203.0.113.9"),
        (AuditAction.LOGIN_SUCCEEDED, "viewer@acme.test", None, "203.0.113.9"),
        (AuditAction.PERMISSION_DENIED, "viewer@acme.test", None, "203.0.113.9"),
        (AuditAction.LOGOUT, "viewer@acme.test", None, "203.0.113.9"),
    ]
    events = list(AuditEvent.objects.filter(id__gt=start).order_by("id"))
    assert [(e.action, e.actor_label, e.key, e.ip) for e in events] == expected
    before = timezone.now()
    for event in events:
        assert event.occurred_at.utcoffset() == timedelta(0) and event.occurred_at.tzinfo is not None
        assert before - timedelta(minutes=1) < event.occurred_at.astimezone(UTC) <= before
        if event.action == AuditAction.KEY_AUTH_FAILED:
            assert event.organization is None  # an unknown key names no organization
        else:
            assert event.organization == demo.acme, event.action
        if event.actor_label == automation:
            assert event.actor_key == admin_key.key
        if event.actor_label == "viewer@acme.test" and event.action != AuditAction.LOGIN_FAILED:
            assert event.actor_user == demo.user("viewer@acme.test")
