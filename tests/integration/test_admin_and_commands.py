"""The Django admin (superusers only, no secrets, append-only audit) and the management commands."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.actors import Actor
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.models import ApiKey
from keys.services import revoke_key, update_key, verify_key

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
    assert root_client.get("/admin/audit/auditevent/").status_code == 200
    assert root_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert root_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    root_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"actor_label": "forged"})
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "test"
    html = root_client.get("/admin/audit/auditevent/").content.decode()
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


# ---- notify_expiring_keys ----


def _notify(*args: str) -> str:
    out = StringIO()
    call_command("notify_expiring_keys", *args, stdout=out)
    return out.getvalue()


def test_expiring_keys_are_announced_once_to_everyone_who_may_manage_them(demo, make_key):
    from django.core import mail

    from accounts.models import Role

    soon = make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    above = make_key(name="scada bridge", role=Role.ADVANCED_ADMIN, expires_in_days=5)
    make_key(name="later", expires_in_days=30)
    make_key(name="forever")
    revoked = make_key(name="gone", expires_in_days=2)
    revoke_key(actor=Actor.system(demo.acme.pk), key=revoked.key)
    make_key(name="globex soon", organization=demo.globex, expires_in_days=1)

    assert "Would send 3 email(s) about 3 key(s)" in _notify("--dry-run")
    assert mail.outbox == []
    assert "Sent 3 email(s) about 3 key(s) expiring within 7 days." in _notify()
    by_recipient = {m.to[0]: m for m in mail.outbox}
    # Advanced Admin may manage both Acme keys, Admin + API only the one at its role; Admin,
    # Support and Viewer manage nothing; Globex hears only about its own key.
    assert set(by_recipient) == {"advanced@acme.test", "adminapi@acme.test", "advanced@globex.test"}
    advanced = by_recipient["advanced@acme.test"]
    assert advanced.subject == "2 API keys expire soon"
    assert "erp nightly" in advanced.body and "scada bridge" in advanced.body
    assert soon.key.client_id in advanced.body and f"/settings/api-keys/{soon.key.pk}/" in advanced.body
    assert "scada bridge" not in by_recipient["adminapi@acme.test"].body
    assert by_recipient["adminapi@acme.test"].subject == "1 API key expires soon"
    assert "erp nightly" not in by_recipient["advanced@globex.test"].body
    for message in mail.outbox:
        for issued in (soon, above):
            assert issued.secret not in message.body

    # Running again announces nothing new; an earlier expiry is announced again.
    assert "Sent 0 email(s) about 0 key(s)" in _notify()
    update_key(
        actor=Actor.system(demo.acme.pk),
        key=ApiKey.objects.get(pk=soon.key.pk),
        expires_at=soon.key.expires_at - timedelta(days=2),
    )
    assert "Sent 2 email(s) about 1 key(s)" in _notify()
    # "later" expires in 30 days and only an Advanced Admin may manage it.
    assert _notify("--days", "30").startswith("Sent 1 email(s) about 1 key(s) expiring within 30 days")


def test_notify_expiring_keys_refuses_a_bad_window(demo):
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("notify_expiring_keys", "--days", "0")


class RefusingBackend:
    """An email backend that refuses one mailbox, as an SMTP server may, and delivers the rest."""

    refused = "adminapi@acme.test"

    def __init__(self, *args, **kwargs) -> None:
        from django.core.mail.backends.locmem import EmailBackend

        self.delivering = EmailBackend()

    def send_messages(self, messages):
        import smtplib

        for message in messages:
            if self.refused in message.to:
                raise smtplib.SMTPRecipientsRefused({self.refused: (550, b"mailbox unavailable")})
        return self.delivering.send_messages(messages)


def test_a_refused_recipient_neither_stops_the_others_nor_causes_repeats(demo, make_key, settings):
    from django.core import mail

    from accounts.models import Role

    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    make_key(name="erp nightly", role=Role.ADMIN_API, expires_in_days=3)
    with pytest.raises(CommandError, match=r"Not sent to 1 recipient\(s\): adminapi@acme.test"):
        _notify()
    assert [m.to for m in mail.outbox] == [["advanced@acme.test"]]
    # The key is announced: the next runs send nothing again, to anyone.
    assert "Sent 0 email(s) about 0 key(s)" in _notify()
    assert len(mail.outbox) == 1
