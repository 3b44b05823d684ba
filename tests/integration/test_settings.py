"""portal/settings.py: production refuses to start without its secrets, cookies and transport are
secure by default, pages carry the security headers, sessions time out, passwords are Argon2id."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.checks import run_checks

from accounts.models import User
from keys.checks import peppers_are_long

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


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


def test_the_deploy_check_refuses_a_short_pepper(settings):
    settings.DEBUG = False
    # The current pepper is long enough, an old one still verifying keys is not.
    settings.KEY_PEPPERS = ["x" * 32, "tiny-pepper"]
    (error,) = peppers_are_long(None)
    assert error.id == "keys.E001" and error.is_serious()
    assert "pepper #2 (of 2) is shorter than 32 characters" in error.msg
    assert "tiny-pepper" not in error.msg + error.hint and "x" * 32 not in error.msg + error.hint
    assert "keys.E001" in {e.id for e in run_checks(include_deployment_checks=True)}
    settings.KEY_PEPPERS = ["x" * 32, "y" * 40]
    assert peppers_are_long(None) == []
    settings.DEBUG = True  # development generates its own pepper, 43 characters
    settings.KEY_PEPPERS = ["p"]
    assert peppers_are_long(None) == []


def test_development_needs_nothing():
    result = _start_django({})
    assert result.returncode == 0, result.stderr


def test_production_cookie_and_transport_settings():
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.CSRF_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_AGE)"
    )
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "s" * 60,
        "KEY_PEPPERS": "p",
        "ALLOWED_HOSTS": "x",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"):
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True", "True", "True", "True", "31536000", "28800"]


def test_security_headers_on_portal_pages(login, demo):
    response = login("advanced@acme.test").get("/settings/api-keys/")
    csp = response["Content-Security-Policy"]
    for directive in ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_sessions_time_out_and_logout_ends_them_on_the_server(demo, settings):
    """The session cookie carries SESSION_COOKIE_AGE; the server refuses the session once it is
    older than that (even if a client keeps sending the cookie), and after logout a copied cookie
    is worth nothing."""
    from django.contrib.sessions.models import Session
    from django.test import Client
    from django.utils import timezone

    client = Client()
    response = client.post("/login/", {"username": "advanced@acme.test", "password": "acme-demo-2026"})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == settings.SESSION_COOKIE_AGE == 8 * 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert client.get("/settings/api-keys/").status_code == 200

    session = Session.objects.get(session_key=cookie.value)
    assert session.expire_date <= timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = client.get("/settings/api-keys/")
    assert expired.status_code == 302 and expired["Location"].startswith("/login/")

    client = Client()
    client.post("/login/", {"username": "advanced@acme.test", "password": "acme-demo-2026"})
    copied = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/logout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = copied
    response = replay.get("/settings/api-keys/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_passwords_are_argon2id(settings, db):
    """With the hashers portal/settings.py configures (the tests otherwise use a fast one)."""
    from portal import settings as configured

    assert configured.PASSWORD_HASHERS == [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    settings.PASSWORD_HASHERS = configured.PASSWORD_HASHERS
    user = User.objects.create_user("hash@acme.test", "correct horse battery")
    assert user.password.startswith("argon2$argon2id$")
