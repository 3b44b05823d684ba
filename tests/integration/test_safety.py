"""Secrets leak nowhere, bad input never becomes a 500, failures are audited without flooding."""

import json
import logging
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from audit.models import AuditAction, AuditEvent
from keys.hotpath import usage
from keys.hotpath.middleware import FailedAuthRecorder
from keys.models import ApiKey
from keys.redaction import REDACTED, ScrubSecretsFilter, scrub

pytestmark = pytest.mark.django_db


def _cache_contents() -> str:
    """Everything the shared cache and this process's own caches hold, as text."""
    from django.conf import settings

    from keys.hotpath import ratelimit
    from keys.hotpath.verification import verified_keys

    parts = [repr(getattr(cache, "_cache", {}))]  # local memory: pickled values, as bytes
    if settings.REDIS_URL:
        import redis

        server = redis.Redis.from_url(settings.REDIS_URL)
        for name in server.scan_iter(count=1000):
            kind = server.type(name).decode()
            dump = {
                "string": server.get,
                "hash": server.hgetall,
                "list": lambda n: server.lrange(n, 0, -1),
                "set": server.smembers,
                "zset": lambda n: server.zrange(n, 0, -1, withscores=True),
            }.get(kind, lambda n: b"")
            parts.append(f"{name!r} {dump(name)!r}")
    parts += [
        repr(verified_keys._entries),
        repr(vars(usage.buffer)),
        repr(vars(ratelimit.limiter().local)),
    ]
    return "\n".join(parts)


def _sessions() -> str:
    from django.contrib.sessions.models import Session

    return "\n".join(repr(session.get_decoded()) for session in Session.objects.all())


def test_secrets_appear_nowhere_after_a_full_scenario(
    api, make_key, demo, caplog, tmp_path, login, settings, monkeypatch
):
    """Issue 6, item 2: create, regenerate with grace, revoke, failures and errors, through the API
    and the portal; then no secret is in the database, the logs, the caches, the sessions, the
    emails (an expiry notice and an exception report) or any response after its reveal."""
    from django.test import Client

    from keys import services
    from tests.integration.test_portal_keys import form_data, secret_in

    caplog.set_level(logging.DEBUG)
    settings.ADMINS = [("Operations", "ops@acme.test")]
    admin = make_key(name="admin")
    # Through the API.
    created = api(
        "post",
        "/api/v1/org/api-keys",
        admin.secret,
        json={"name": "erp", "scopes": ["api-keys:read"], "expires_in_days": 3},
    )
    first = created.json()["key"]
    key_id = created.json()["id"]
    regenerated = api(
        "post", f"/api/v1/org/api-keys/{key_id}/regenerate", admin.secret, json={"grace_period_seconds": 3600}
    ).json()["key"]
    # Through the portal.
    browser = login("advanced@acme.test")
    portal_first = secret_in(
        browser.post(
            "/settings/api-keys/new/", form_data(demo, name="scada", expiry="custom", expiry_days="3")
        )
    )
    scada = ApiKey.objects.get(name="scada")
    portal_regenerated = secret_in(
        browser.post(f"/settings/api-keys/{scada.pk}/regenerate/", {"grace_period": "3600"})
    )
    mobile = make_key(name="mobile")
    secrets = [admin.secret, mobile.secret, first, regenerated, portal_first, portal_regenerated]

    later = [
        api("get", "/api/v1/key", first),
        api("get", "/api/v1/key", regenerated),
        api("get", "/api/v1/key", first[:-1] + "0"),
        api("get", f"/api/v1/key?token={first}"),
        api("get", "/api/v1/key", headers={"HTTP_X_API_KEY": f"{scada.client_id}:{portal_first}"}),
        api("post", "/api/v1/keys/verify", admin.secret, json={"key": first}),
        api("post", "/api/v1/keys/verify", admin.secret, json={"key": portal_regenerated + "x"}),
        api("post", "/api/v1/org/api-keys", admin.secret, json={"name": "erp", "scopes": ["api-keys:read"]}),
        api("post", "/api/v1/org/api-keys", admin.secret, json={"name": first, "scopes": ["nope:read"]}),
        api("get", f"/api/v1/org/api-keys/{key_id}", admin.secret),
        api("get", "/api/v1/org/api-keys", admin.secret),
        api("delete", f"/api/v1/org/api-keys/{key_id}", admin.secret),
        api("get", "/api/v1/key", first),
        browser.post("/settings/api-keys/new/", form_data(demo, name="scada")),  # name taken
        browser.post("/settings/api-keys/new/", form_data(demo, name=portal_first)),  # pasted by mistake
        browser.post(f"/settings/api-keys/{mobile.key.pk}/revoke/"),
        api("get", "/api/v1/key", mobile.secret),
        browser.get("/settings/api-keys/"),
        browser.get("/settings/api-keys/?q=" + portal_first),
        browser.get(f"/settings/api-keys/{key_id}/"),
        browser.get(f"/settings/api-keys/{scada.pk}/"),
        browser.get("/settings/audit-log/"),
    ]
    # An unexpected failure while a secret is in the request: the exception report emailed to
    # ADMINS must not carry it either.
    monkeypatch.setattr(services, "create_key", lambda *a, **k: 1 / 0)
    crashing = Client(raise_request_exception=False)
    later.append(
        crashing.post(
            "/api/v1/org/api-keys",
            data=json.dumps({"name": first, "scopes": ["api-keys:read"]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {admin.secret}",
            HTTP_X_API_KEY=admin.secret,
        )
    )
    assert later[-1].status_code == 500
    call_command("notify_expiring_keys", stdout=StringIO())
    usage.buffer.flush(force_last_used=True)

    dump = tmp_path / "dump.json"
    with open(dump, "w") as out:
        call_command("dumpdata", "--all", stdout=out)
    assert len(mail.outbox) >= 2, "expected an expiry notice and an exception report"
    assert any("scada" in m.body for m in mail.outbox)
    assert any("ZeroDivisionError" in m.body for m in mail.outbox)
    haystacks = {
        "database": dump.read_text(),
        "sessions": _sessions(),
        "log": caplog.text,
        "cache": _cache_contents(),
        "email": "".join(
            m.subject + m.body + "".join(str(alt[0]) for alt in getattr(m, "alternatives", []))
            for m in mail.outbox
        ),
        "responses after the reveal": "".join(r.content.decode() + str(r.headers) for r in later),
    }
    assert "ZeroDivisionError" in haystacks["log"]  # the crash was logged: the log is really searched
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret is in the {where}"
            assert secret[8:40] not in text, f"part of a secret is in the {where}"


def test_exception_reports_scrub_secrets(settings, make_key):
    issued = make_key()
    request = RequestFactory().post(
        "/api/v1/keys/verify",
        data=json.dumps({"key": issued.secret}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
        HTTP_X_API_KEY=issued.secret,
    )

    def failing(presented_value):
        raise ValueError("boom")

    try:
        failing(issued.secret)
    except ValueError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        html = reporter.get_traceback_html()
        text = reporter.get_traceback_text()
    assert issued.secret not in html and issued.secret not in text
    assert REDACTED in text or "********************" in text


def test_log_lines_are_scrubbed():
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "bad key %s", ("sk_live_" + "a" * 49,), None
    )
    ScrubSecretsFilter().filter(record)
    assert "a" * 20 not in record.getMessage() and REDACTED in record.getMessage()
    assert scrub("no secrets here") == "no secrets here"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{" + b'"a":' * 0 + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),  # deeply nested
        (b'{"name": "\xff\xfe", "scopes": ["api-keys:read"]}', "application/json"),  # invalid UTF-8
        (b'{"name": "nul\\u0000byte", "scopes": ["api-keys:read"]}', "application/json"),
        (b'{"name": "' + b"x" * 5000 + b'", "scopes": ["api-keys:read"]}', "application/json"),
        (b'{"name": "ok", "scopes": ["api-keys:read"], "expires_in_days": 1e309}', "application/json"),
        (b"name=ok&scopes=api-keys:read", "application/x-www-form-urlencoded"),
        (b"\x00\x01\x02", "application/octet-stream"),
    ],
)
def test_bad_bodies_get_a_clear_400(client, make_key, body, content_type):
    issued = make_key()
    response = client.post(
        "/api/v1/org/api-keys",
        data=body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["code"] == "validation_error"


def test_oversized_body_is_refused_with_json(client, make_key):
    issued = make_key()
    body = json.dumps({"name": "big", "scopes": ["api-keys:read"], "pad": "x" * (1024 * 1024 + 10)})
    response = client.post(
        "/api/v1/org/api-keys",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {issued.secret}",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "query",
    ["limit=99999999999999999999", "offset=99999999999999999999", "offset=1e9", "limit=-5", "search=%00"],
)
def test_huge_or_strange_paging_values(api, make_key, query):
    response = api("get", f"/api/v1/org/api-keys?{query}", make_key().secret)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert response.json()["error"]["code"] == "validation_error"


def test_database_errors_become_503_json(api, make_key, monkeypatch):
    from django.db import DatabaseError

    from keys.hotpath import verification

    issued = make_key()

    def down(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(verification, "_look_up", down)
    response = api("get", "/api/v1/key", issued.secret)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable" and response["Retry-After"] == "5"


def test_database_errors_inside_api_views_become_503_json(api, make_key, monkeypatch):
    from django.db import DatabaseError

    from keys import selectors

    issued = make_key()
    api("get", "/api/v1/key", issued.secret)  # cache the key: verification needs no database now

    def down(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(selectors, "visible_keys", down)
    response = api("get", "/api/v1/org/api-keys", issued.secret)
    assert response.status_code == 503 and response.json()["error"]["code"] == "service_unavailable"


def test_failed_key_authentications_are_audited_but_throttled(api):
    for _ in range(5):
        api("get", "/api/v1/key", "sk_live_" + "x" * 49, REMOTE_ADDR="203.0.113.50")
    api("get", "/api/v1/key", "garbage", REMOTE_ADDR="203.0.113.51")
    events = AuditEvent.objects.filter(action=AuditAction.KEY_AUTH_FAILED)
    assert events.count() == 2  # one per address per minute
    assert {e.ip for e in events} == {"203.0.113.50", "203.0.113.51"}
    assert all("x" * 10 not in json.dumps(e.details) for e in events)


def test_failed_auth_recorder_caps_events_per_minute():
    recorder = FailedAuthRecorder()
    accepted = sum(recorder.should_record(f"198.51.100.{i}", 1000.0) for i in range(100))
    assert accepted == FailedAuthRecorder.PER_MINUTE
    assert recorder.should_record("192.0.2.1", 1061.0)  # a new minute


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


def test_post_without_csrf_token_is_refused(demo):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(demo.user("advanced@acme.test"))
    response = client.post("/logout/")
    assert response.status_code == 403 and "expired" in response.content.decode()
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/login/", {"username": "a@b.c", "password": "x"}).status_code == 403


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


@pytest.mark.parametrize("field", ["account", "application"])
def test_nul_characters_in_lookups_are_a_400(api, make_key, field):
    body = {"name": "n", "scopes": ["api-keys:read"], field: "bad\x00value"}
    response = api("post", "/api/v1/org/api-keys", make_key().secret, json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


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


def test_every_audited_action_records_actor_organization_key_utc_time_and_ip(demo, make_key):
    """Issue 6, item 9: each create, regenerate, revoke, failed key authentication, refused
    permission and sign-in writes one event, through the interfaces people and programs use."""
    from datetime import UTC

    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role

    admin_key = make_key(name="automation")
    reader = make_key(name="reader only", role=Role.SUPPORT, scopes=["api-keys:read"])
    api_client = Client(REMOTE_ADDR="198.51.100.7")
    start = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    def api(method, path, secret, body=None):
        auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
        if method == "get":
            return api_client.get(path, **auth)
        return getattr(api_client, method)(
            path, data=json.dumps(body or {}), content_type="application/json", **auth
        )

    created = api(
        "post", "/api/v1/org/api-keys", admin_key.secret, {"name": "erp", "scopes": ["api-keys:read"]}
    )
    key_id = created.json()["id"]
    api("post", f"/api/v1/org/api-keys/{key_id}/regenerate", admin_key.secret)
    api("post", "/api/v1/org/api-keys", reader.secret, {"name": "denied", "scopes": ["api-keys:read"]})
    api("get", "/api/v1/key", "sk_live_" + "0" * 49)
    api("delete", f"/api/v1/org/api-keys/{key_id}", admin_key.secret)

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


def test_the_policy_is_on_pages_and_the_api_docs_not_on_json_or_probes(client, api, make_key):
    issued = make_key()
    assert "Content-Security-Policy" not in api("get", "/api/v1/key", issued.secret)
    assert "Content-Security-Policy" not in client.get("/healthz")
    docs = client.get("/api/v1/docs")
    assert "object-src 'none'" in docs["Content-Security-Policy"]
    assert "object-src 'none'" in client.get("/login/")["Content-Security-Policy"]
