"""Issue 2: sign-in, throttling, menus per role, 403s, applications pages, seed_demo, settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Account, Application, Membership, Organization, Scope, User
from audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, ROLE_EMAILS

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_login_page_has_the_labelled_fields(client):
    html = client.get("/login/").content.decode()
    assert '<label for="id_username">Email</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert ">Log in</button>" in html


def test_login_and_logout(client, demo):
    response = client.post("/login/", {"username": "advanced@acme.test", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/settings/api-keys/").status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.LOGIN_SUCCEEDED, actor_label="advanced@acme.test"
    ).exists()
    assert client.get("/logout/").status_code == 405  # logout is a POST
    assert client.post("/logout/").status_code == 302
    assert client.get("/settings/api-keys/").status_code == 302


def test_email_is_case_insensitive(client, demo):
    response = client.post("/login/", {"username": "Advanced@ACME.test", "password": PASSWORD})
    assert response.status_code == 302


def test_wrong_password_is_an_error_next_to_the_form(client, demo):
    response = client.post("/login/", {"username": "advanced@acme.test", "password": "nope"})
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.LOGIN_FAILED)
    assert event.organization == demo.acme and "nope" not in str(event.details)


def test_repeated_failures_lock_the_account_and_the_address(client, demo, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": "support@acme.test", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    # Even the right password is refused now, with a clear message.
    response = client.post(
        "/login/", {"username": "support@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    # The same account from another address is locked too (per account)...
    other = client.post(
        "/login/", {"username": "support@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.10"
    )
    assert other.status_code == 429
    # ...and so is another account from the locked address (per IP).
    same_ip = client.post(
        "/login/", {"username": "viewer@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9"
    )
    assert same_ip.status_code == 429
    fresh = client.post(
        "/login/", {"username": "viewer@acme.test", "password": PASSWORD}, REMOTE_ADDR="10.0.0.11"
    )
    assert fresh.status_code == 302


def test_password_change(client, demo):
    client.force_login(demo.user("viewer@acme.test"))
    response = client.post(
        "/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase-42",
            "new_password2": "a-much-longer-passphrase-42",
        },
    )
    assert response.status_code == 302
    assert User.objects.get(email="viewer@acme.test").check_password("a-much-longer-passphrase-42")


def test_passwords_are_argon2id(settings, db):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    user = User.objects.create_user("hash@acme.test", "correct horse battery")
    assert user.password.startswith("argon2$argon2id$")


@pytest.mark.parametrize(
    "path", ["/", "/settings/api-keys/", "/settings/applications/", "/settings/audit-log/", "/password/"]
)
def test_every_page_requires_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("path", ["/login/", "/healthz", "/readyz", "/api/v1/openapi.json", "/api/v1/docs"])
def test_public_paths(client, path):
    assert client.get(path).status_code == 200


MENU = {
    "advanced@acme.test": {"API Keys", "Applications", "Audit log"},
    "adminapi@acme.test": {"API Keys", "Applications", "Audit log"},
    "admin@acme.test": {"Applications"},
    "support@acme.test": {"API Keys", "Applications", "Audit log"},
    "viewer@acme.test": {"Applications"},
}


@pytest.mark.parametrize("email", list(MENU))
def test_menu_entries_per_role(login, demo, email):
    html = login(email).get("/settings/applications/").content.decode()
    assert 'popovertarget="settings-menu"' in html and ">\n          Settings" in html
    shown = {label for label in ("API Keys", "Applications", "Audit log") if f">{label}</a>" in html}
    assert shown == MENU[email]


@pytest.mark.parametrize(
    ("email", "status"),
    [(e, 200 if "API Keys" in MENU[e] else 403) for e in MENU],
)
def test_key_pages_answer_403_to_roles_without_access(login, demo, email, status):
    client = login(email)
    assert client.get("/settings/api-keys/").status_code == status
    assert client.get("/settings/audit-log/").status_code == status


def test_403_page_is_styled(login, demo):
    response = login("viewer@acme.test").get("/settings/api-keys/")
    html = response.content.decode()
    assert response.status_code == 403 and "Not allowed" in html and "portal.css" in html


def test_404_page(login, demo):
    response = login("advanced@acme.test").get("/no/such/page/")
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_applications_pages(login, demo):
    client = login("viewer@acme.test")
    html = client.get("/settings/applications/").content.decode()
    for name in ("InCharge", "Infodeck", "API Key Portal"):
        assert name in html
    detail = client.get("/settings/applications/incharge/").content.decode()
    assert "https://incharge.acme.test/api" in detail
    assert "charge-points:read" in detail and "sessions:write" in detail
    assert 'curl -H "Authorization: Bearer $CLIENT_SECRET" https://incharge.acme.test/api/' in detail
    portal = client.get("/settings/applications/portal/").content.decode()
    assert "/api/v1/org/api-keys" in portal and "api-keys:verify" in portal


def test_applications_of_another_organization_are_not_found(login, demo):
    client = login("advanced@globex.test")
    assert client.get("/settings/applications/incharge/").status_code == 404
    assert "InCharge" not in client.get("/settings/applications/").content.decode()


def test_seed_demo_matches_the_spec(demo):
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
    def snapshot():
        return [
            list(model.objects.order_by("pk").values())
            for model in (Organization, Account, Application, Scope, User, Membership)
        ]

    before = snapshot()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert snapshot() == before


def _start_django(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "KEY_PEPPERS", "DEBUG", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_secrets():
    result = _start_django({"DEBUG": "0", "ALLOWED_HOSTS": "portal.example.com"})
    assert result.returncode != 0
    assert "refuses to start without SECRET_KEY and KEY_PEPPERS" in result.stderr
    result = _start_django({"DEBUG": "0", "ALLOWED_HOSTS": "x", "SECRET_KEY": "s" * 60})
    assert result.returncode != 0 and "without KEY_PEPPERS" in result.stderr


def test_production_starts_with_secrets():
    result = _start_django(
        {"DEBUG": "0", "ALLOWED_HOSTS": "portal.example.com", "SECRET_KEY": "k" * 60, "KEY_PEPPERS": "p1,p2"}
    )
    assert result.returncode == 0, result.stderr


def test_development_needs_nothing():
    result = _start_django({})
    assert result.returncode == 0, result.stderr
