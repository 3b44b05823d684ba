"""The management commands: create_api_key, notify_expiring_keys and seed_demo."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Account, Application, Membership, Organization, Scope, User
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.demo import DEMO_KEYS
from keys.models import ApiKey, KeyUsageDay
from keys.services import regenerate_key, revoke_key, update_key, verify_key
from tests.helpers import demo as demo_data
from tests.helpers.api import KEY_FIELDS
from tests.helpers.demo import PASSWORD, ROLE_EMAILS
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db


# ---- create_api_key ----


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
        "--allowed-ip",
        "192.0.2.0/24",
        "--allowed-ip",
        "2001:db8::1",
        "--json",
        stdout=out,
    )
    body = json.loads(out.getvalue())
    assert set(body) == KEY_FIELDS | {"key"}
    assert body["allowed_ips"] == ["192.0.2.0/24", "2001:db8::1"]
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
        (["--organization", "acme", "--allowed-ip", "lan"], "“lan” is not an IP address"),
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
    assert "Queued 3 email(s) about 3 key(s): 3 expiring within 7 days, 0 due for rotation" in _notify()
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
    assert "Queued 0 email(s) about 0 key(s)" in _notify()
    update_key(
        actor=Actor.system(demo.acme.pk),
        key=ApiKey.objects.get(pk=soon.key.pk),
        expires_at=soon.key.expires_at - timedelta(days=2),
    )
    assert "Queued 2 email(s) about 1 key(s)" in _notify()
    # "later" expires in 30 days and only an Advanced Admin may manage it.
    assert _notify("--days", "30").startswith("Queued 1 email(s) about 1 key(s): 1 expiring within 30 days")


def _age(key, days: int, **more) -> None:
    """Make a key (and its current secret) ``days`` old."""
    ApiKey.objects.filter(pk=key.pk).update(created_at=timezone.now() - timedelta(days=days), **more)


def test_rotation_due_is_announced_once_per_secret(demo, make_key):
    from django.core import mail

    stale = make_key(name="stale erp").key
    _age(stale, 120)
    fresh = make_key(name="fresh").key
    revoked = make_key(name="stale but revoked").key
    _age(revoked, 200, revoked_at=timezone.now())
    globex = make_key(name="globex stale", organization=demo.globex).key
    _age(globex, 60)  # Globex rotates every 90 days too: not due yet

    assert "1 due for rotation" in _notify()
    assert [m.to[0] for m in mail.outbox] == ["advanced@acme.test"]
    message = mail.outbox[0]
    assert message.subject == "API keys need your attention: 1 is due for rotation"
    assert "DUE FOR ROTATION" in message.body and "stale erp" in message.body
    assert "(120 days ago; the rotation period is 90 days)" in message.body
    assert "fresh" not in message.body and fresh.client_id not in message.body
    # Once per secret: nothing again, until the key is regenerated and its new secret ages too.
    assert "0 due for rotation" in _notify()
    assert len(mail.outbox) == 1
    regenerate_key(actor=Actor.system(demo.acme.pk), key=ApiKey.objects.get(pk=stale.pk))
    assert "0 due for rotation" in _notify()
    ApiKey.objects.filter(pk=stale.pk).update(regenerated_at=timezone.now() - timedelta(days=91))
    assert "1 due for rotation" in _notify()
    # A shorter rotation period makes Globex's key due.
    Organization.objects.filter(pk=demo.globex.pk).update(rotation_policy_days=30)
    _notify()
    assert mail.outbox[-1].to == ["advanced@globex.test"] and "globex stale" in mail.outbox[-1].body


def test_a_policy_change_announces_the_keys_it_leaves_outside_once(demo, make_key):
    from django.core import mail

    forever = make_key(name="forever").key
    make_key(name="fenced", expires_in_days=30, allowed_ips=["192.0.2.0/24"])
    set_policy(demo, max_key_lifetime_days=90)
    assert "1 outside the security policy" in _notify()
    message = mail.outbox[0]
    assert message.subject == "API keys need your attention: 1 is outside the security policy"
    assert "forever" in message.body and "never expires (the policy allows 90 days)" in message.body
    assert "fenced" not in message.body
    assert "0 outside the security policy" in _notify()
    # Another change announces again what it leaves outside.
    set_policy(demo, require_ip_allowlist=True)
    assert "1 outside the security policy" in _notify()
    assert "works from anywhere (the policy requires allowed networks)" in mail.outbox[-1].body
    assert ApiKey.objects.get(pk=forever.pk).expires_at is None  # never changed by a notice


def test_one_email_per_person_lists_every_notice_in_text_and_html(demo, make_key, settings):
    import html as html_lib

    from django.core import mail

    settings.PORTAL_BASE_URL = "https://keys.example.com"
    soon = make_key(name="R&D <nightly>", expires_in_days=2)
    stale = make_key(name="stale").key
    _age(stale, 100)
    set_policy(demo, require_ip_allowlist=True)
    said = _notify()
    assert "Queued 1 email(s) about 2 key(s): 1 expiring within 7 days, 1 due for rotation, 2 outside" in said
    message = next(m for m in mail.outbox if m.to == ["advanced@acme.test"])
    assert message.subject == (
        "API keys need your attention: 1 expires soon, 1 is due for rotation, "
        "2 are outside the security policy"
    )
    assert "- R&D <nightly> (" in message.body  # plain text, not HTML-escaped
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    for title in ("Expiring soon", "Due for rotation", "Outside the security policy"):
        assert f">{title}</h2>" in html
    assert "R&amp;D &lt;nightly&gt;" in html and "<nightly>" not in html
    assert (
        f'href="http://127.0.0.1:8000/settings/api-keys/{soon.key.pk}/"' in html
        or "/settings/api-keys/" in html
    )
    # Nothing the mail client would fetch from elsewhere: no images, scripts or style sheets.
    for tag in ("<img", "<script", "<link", "url("):
        assert tag not in html
    assert html_lib.unescape(html).count(soon.key.client_id) == 2  # expiring and outside the policy
    for m in mail.outbox:
        assert soon.secret not in m.body and soon.secret not in m.alternatives[0][0]


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
    assert "Queued 0 email(s) about 0 key(s)" in _notify()
    assert len(mail.outbox) == 1


# ---- seed_demo ----


def test_seed_demo_creates_both_organizations_their_accounts_applications_and_users(demo):
    assert (demo.acme.name, demo.acme.plan, demo.globex.plan) == ("Acme Corp", "enterprise", "professional")
    assert {a.name for a in Account.objects.filter(organization=demo.acme)} == {
        "Acme Corp",
        "Acme North",
        "Acme South",
    }
    assert demo.north.parent == demo.acme_root and demo.south.parent == demo.acme_root
    assert {s.resource for s in demo.incharge.scopes.all()} == {
        "charge-points",
        "billing",
        "analytics",
        "webhooks",
        "sessions",
    }
    assert {s.resource for s in demo.infodeck.scopes.all()} == {
        "work-orders",
        "assets",
        "locations",
        "forms",
        "iot",
        "users",
    }
    assert {str(s) for s in demo.portal.scopes.all()} == {
        "api-keys:read",
        "api-keys:write",
        "api-keys:verify",
    }
    globex_infodeck = Application.objects.get(organization=demo.globex, slug="infodeck")
    assert {str(s) for s in globex_infodeck.scopes.all()} == {str(s) for s in demo.infodeck.scopes.all()}
    for role, email in ROLE_EMAILS.items():
        membership = Membership.objects.get(user__email=email)
        assert (membership.role, membership.account) == (role, demo.acme_root)
        assert User.objects.get(email=email).check_password(PASSWORD)
    assert Membership.objects.get(user__email="advanced@globex.test").account == demo.globex_root
    root = User.objects.get(email="root@acme.test")
    assert root.is_superuser and root.check_password(PASSWORD)


def test_seed_demo_twice_changes_nothing(demo):
    """Keys, their usage and their audit events included: the second run finds every demo key by
    its name and makes nothing."""

    def snapshot():
        return [
            list(model.objects.order_by("pk").values())
            for model in (
                Organization,
                Account,
                Application,
                Scope,
                User,
                Membership,
                ApiKey,
                KeyUsageDay,
                AuditEvent,
            )
        ]

    assert "10 new demo keys" in demo_data.seed(keys=True)
    before = snapshot()
    assert ApiKey.objects.count() == len(DEMO_KEYS) == 10
    assert KeyUsageDay.objects.count() > 250
    assert AuditEvent.objects.count() == 12  # 10 created, 1 regenerated, 1 revoked
    assert "nothing changed" in demo_data.seed(keys=True)
    assert snapshot() == before


def test_seed_demo_no_keys_makes_everything_but_the_keys(demo):
    Membership.objects.filter(user__email="viewer@acme.test").delete()
    assert "1 new objects, 0 new demo keys" in demo_data.seed()
    assert not ApiKey.objects.exists() and not AuditEvent.objects.exists()


def test_seed_demo_gives_new_demo_users_the_demo_password_setting(demo, settings):
    settings.DEMO_PASSWORD = "another-demo-password"
    User.objects.filter(email="viewer@acme.test").delete()
    demo_data.seed()
    assert User.objects.get(email="viewer@acme.test").check_password("another-demo-password")
    assert User.objects.get(email="support@acme.test").check_password(PASSWORD)  # left as it was


def test_create_api_key_command_takes_old_scope_names(demo):
    out = StringIO()
    arguments = dict(organization="acme", name="legacy", scopes=["read:api_keys"], json=True)
    call_command("create_api_key", stdout=out, **arguments)
    assert json.loads(out.getvalue())["scopes"] == ["api-keys:read"]


# ---- report_leaked_secret ----


def _report_leaked(secret: str, *args: str) -> str:
    out = StringIO()
    call_command("report_leaked_secret", *args, stdin=StringIO(secret + "\n"), stdout=out)
    return out.getvalue()


LEAKED_AT = "https://pastebin.example/raw/abc123"


def test_report_leaked_secret_reads_stdin_and_applies_the_leak_policy(make_key, demo):
    issued = make_key(name="pasted in a ticket")
    dry = _report_leaked(issued.secret, "--url", LEAKED_AT, "--dry-run")
    assert dry.startswith(f"Would report its current secret of pasted in a ticket ({issued.key.client_id})")
    assert "the key would be revoked" in dry
    assert ApiKey.objects.get(pk=issued.key.pk).status == "active"
    done = _report_leaked(issued.secret, "--url", LEAKED_AT)
    assert "the key is revoked" in done and issued.secret not in done
    assert ApiKey.objects.get(pk=issued.key.pk).status == "revoked"
    event = AuditEvent.objects.get(action=AuditAction.KEY_LEAK_REPORTED)
    assert event.actor_label == "manage.py report_leaked_secret" and event.details["source_url"] == LEAKED_AT
    again = _report_leaked(issued.secret, "--url", LEAKED_AT)
    assert "no longer works (the key is revoked); nothing to do" in again
    assert AuditEvent.objects.filter(action=AuditAction.KEY_LEAK_REPORTED).count() == 1


def test_report_leaked_secret_refuses_bad_input_and_never_takes_the_secret_as_an_argument(make_key, demo):
    issued = make_key()
    with pytest.raises(CommandError, match="not a Client Secret"):
        _report_leaked("sk_live_typo", "--url", LEAKED_AT)
    with pytest.raises(CommandError, match="http:// or https://"):
        _report_leaked(issued.secret, "--url", "ftp://example.com/x")
    with pytest.raises(CommandError, match="No key has this secret"):
        _report_leaked(credentials.new_secret("live"), "--url", LEAKED_AT)
    with pytest.raises(CommandError):
        call_command("report_leaked_secret", issued.secret, "--url", LEAKED_AT)  # no such argument
