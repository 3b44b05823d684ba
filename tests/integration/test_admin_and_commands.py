"""The Django admin (superusers only, no secrets, append-only audit) and the management commands."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from keys import credentials, usage
from keys.models import ApiKey, AuditAction, AuditEvent, KeyUsageDay
from keys.services import verify_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, demo):
    client.force_login(demo.user("root@acme.test"))
    return client


def test_admin_is_for_superusers_only(client, demo, make_key):
    issued = make_key()
    for email in ("advanced@acme.test", "support@acme.test"):
        client.force_login(demo.user(email))
        response = client.get("/admin/keys/apikey/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        assert client.get(f"/admin/keys/apikey/{issued.key.pk}/change/").status_code == 302


def test_admin_lists_keys_without_secret_or_digest(root_client, make_key):
    issued = make_key(name="admin visible")
    key = ApiKey.objects.get(pk=issued.key.pk)
    for path in (
        "/admin/keys/apikey/",
        f"/admin/keys/apikey/{key.pk}/change/",
        "/admin/keys/apikey/?q=admin",
    ):
        html = root_client.get(path).content.decode()
        assert "admin visible" in html
        assert issued.secret not in html and key.secret_digest not in html and key.pepper_id not in html
    assert root_client.get("/admin/keys/apikey/add/").status_code == 403
    assert root_client.get(f"/admin/keys/apikey/{key.pk}/delete/").status_code == 403


def test_admin_change_form_cannot_widen_a_key(root_client, make_key):
    issued = make_key(scopes=["api-keys:read"])
    response = root_client.post(
        f"/admin/keys/apikey/{issued.key.pk}/change/", {"scopes": '["api-keys:write"]', "role": "50"}
    )
    assert response.status_code in (302, 403)
    assert ApiKey.objects.get(pk=issued.key.pk).scopes == ["api-keys:read"]


def test_admin_revoke_action_goes_through_the_service(root_client, make_key):
    first, second = make_key(), make_key()
    response = root_client.post(
        "/admin/keys/apikey/",
        {"action": "revoke_selected", "_selected_action": [str(first.key.pk), str(second.key.pk)]},
    )
    assert response.status_code == 302
    assert verify_key(presented=first.secret) is None and verify_key(presented=second.secret) is None
    events = AuditEvent.objects.filter(action=AuditAction.KEY_REVOKED)
    assert events.count() == 2 and all("Django admin" in e.actor_label for e in events)


def test_audit_events_are_read_only_in_the_admin(root_client, make_key):
    make_key()
    event = AuditEvent.objects.first()
    assert root_client.get("/admin/keys/auditevent/").status_code == 200
    assert root_client.get("/admin/keys/auditevent/add/").status_code == 403
    assert root_client.get(f"/admin/keys/auditevent/{event.pk}/delete/").status_code == 403
    root_client.post(f"/admin/keys/auditevent/{event.pk}/change/", {"actor_label": "forged"})
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "test"
    html = root_client.get("/admin/keys/auditevent/").content.decode()
    assert 'value="delete_selected"' not in html


def test_admin_manages_accounts_domain(root_client, demo):
    for path in (
        "/admin/accounts/organization/",
        "/admin/accounts/account/",
        "/admin/accounts/membership/",
        "/admin/accounts/application/",
        "/admin/accounts/user/",
        f"/admin/accounts/application/{demo.incharge.pk}/change/",
    ):
        assert root_client.get(path).status_code == 200, path


def test_create_api_key_command_json(demo):
    out = StringIO()
    call_command(
        "create_api_key",
        "--organization",
        "acme",
        "--name",
        "ERP",
        "--scope",
        "billing:read",
        "--scope",
        "sessions:write",
        "--application",
        "incharge",
        "--role",
        "admin",
        "--account",
        "Acme North",
        "--expires-in-days",
        "30",
        "--rate-limit",
        "20",
        "--json",
        stdout=out,
    )
    body = json.loads(out.getvalue())
    assert set(body) == {
        "id",
        "name",
        "client_id",
        "scopes",
        "application",
        "account",
        "role",
        "status",
        "created_at",
        "last_used_at",
        "expires_at",
        "key",
    }
    assert (body["application"], body["account"], body["role"]) == ("incharge", "Acme North", "admin")
    assert credentials.is_well_formed_secret(body["key"])
    assert verify_key(presented=body["key"]).rate_limit == 20
    assert AuditEvent.objects.get(action=AuditAction.KEY_CREATED).actor_label == "create_api_key command"


def test_create_api_key_command_defaults_and_text_output(demo):
    out = StringIO()
    call_command(
        "create_api_key", "--organization", "acme", "--name", "plain", "--scope", "api-keys:read", stdout=out
    )
    key = ApiKey.objects.get(name="plain")
    assert (key.application, key.account, key.role) == (demo.portal, demo.acme_root, 50)
    assert "Client ID:     ck_live_" in out.getvalue() and "Client Secret: sk_live_" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--organization", "nope"], "No organization"),
        (["--organization", "acme", "--application", "nope"], "No application"),
        (["--organization", "acme", "--account", "Nowhere"], "No account"),
        (["--organization", "acme", "--role", "owner"], "Unknown role"),
        (["--organization", "acme", "--scope", "made-up:read"], "invalid_scope"),
        (["--organization", "acme", "--expires-in-days", "0"], "validation_error"),
    ],
)
def test_create_api_key_command_errors(demo, args, message):
    base = ["--name", "x", "--scope", "api-keys:read"]
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *base, *args, stdout=StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_command_obeys_the_key_limit(demo, make_key):
    for _ in range(10):
        make_key(organization=demo.globex)
    with pytest.raises(CommandError, match="10 of 10 keys in use"):
        call_command(
            "create_api_key",
            "--organization",
            "globex",
            "--name",
            "x",
            "--scope",
            "api-keys:read",
            stdout=StringIO(),
        )


def test_flush_usage_command(api, make_key):
    issued = make_key()
    api("get", "/api/v1/key", issued.secret)
    out = StringIO()
    call_command("flush_usage", stdout=out)
    assert "Flushed 1" in out.getvalue()
    assert KeyUsageDay.objects.get(key=issued.key).total == 1
    assert usage.buffer.pending() == 0
