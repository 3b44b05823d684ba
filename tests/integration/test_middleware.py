"""keys/api/middleware.py: every request to /api/ is authenticated by an API key, in one of four
header forms, rate-limited, and refused with the one JSON answer otherwise; failed authentications
are audited without flooding the log; a database error is a 503, never a 500 page."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.metering import usage
from keys.models import ApiKey, KeyUsageDay
from tests.helpers.api import HEADER_FORMS, KEY_FIELDS, assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "headers",
    [*HEADER_FORMS, lambda k: {"HTTP_AUTHORIZATION": f"bearer {k.secret}", "HTTP_X_API_KEY": k.secret}],
)
def test_every_header_form_authenticates(client, make_key, headers):
    issued = make_key()
    response = client.get("/api/v1/key", **headers(issued))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(issued.key.pk) and set(KEY_FIELDS) <= set(body)
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in response


def test_unauthorized_cases_are_indistinguishable(client, api, make_key):
    good = make_key()
    expired = make_key()
    ApiKey.objects.filter(pk=expired.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = make_key()
    api("delete", f"/api/v1/org/api-keys/{revoked.key.pk}", good.secret)
    wrong_secret = credentials.new_secret("live")
    mistyped = good.secret[:-1] + ("A" if good.secret[-1] != "A" else "B")
    cases = {
        "none": {},
        "empty bearer": {"HTTP_AUTHORIZATION": "Bearer "},
        "basic scheme": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        "malformed": {"HTTP_AUTHORIZATION": "Bearer hello"},
        "bad checksum": {"HTTP_AUTHORIZATION": f"Bearer {mistyped}"},
        "truncated": {"HTTP_X_API_KEY": good.secret[:-3]},
        "unknown": {"HTTP_AUTHORIZATION": f"Bearer {wrong_secret}"},
        "expired": {"HTTP_AUTHORIZATION": f"Bearer {expired.secret}"},
        "revoked": {"HTTP_AUTHORIZATION": f"Bearer {revoked.secret}"},
        "other key's client id": {"HTTP_AUTHORIZATION": f"Bearer {expired.key.client_id}:{good.secret}"},
        "two different keys": {"HTTP_AUTHORIZATION": f"Bearer {good.secret}", "HTTP_X_API_KEY": wrong_secret},
    }
    bodies = set()
    for name, headers in cases.items():
        response = client.get("/api/v1/key", **headers)
        body = assert_error(response, 401, "unauthorized")
        bodies.add(body["error"]["message"])
        assert "RateLimit-Limit" not in response, name
    assert len(bodies) == 1  # the message never says which


def test_key_in_the_query_string_is_refused(client, make_key):
    issued = make_key()
    response = client.get(f"/api/v1/key?api_key={issued.secret}")
    body = assert_error(response, 401, "unauthorized")
    assert "URL" in body["error"]["message"]
    # ...even when a valid header is also present.
    response = client.get(f"/api/v1/key?key={issued.secret}", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert response.status_code == 401


def test_keys_never_authenticate_portal_pages_or_admin(client, make_key):
    issued = make_key()
    for path in ("/settings/api-keys/", "/settings/applications/", "/admin/"):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        assert response.status_code == 302 and "login" in response["Location"], path


def test_failed_key_authentications_are_audited_but_throttled(api):
    for _ in range(5):
        api("get", "/api/v1/key", "sk_live_" + "x" * 49, REMOTE_ADDR="203.0.113.50")
    api("get", "/api/v1/key", "garbage", REMOTE_ADDR="203.0.113.51")
    events = AuditEvent.objects.filter(action=AuditAction.KEY_AUTH_FAILED)
    assert events.count() == 2  # one per address per minute
    assert {e.ip for e in events} == {"203.0.113.50", "203.0.113.51"}
    assert all("x" * 10 not in json.dumps(e.details) for e in events)


def test_rate_limit_headers_and_429(api, make_key):
    issued = make_key(rate_limit=3)
    remaining = []
    for _ in range(3):
        response = api("get", "/api/v1/key", issued.secret)
        assert response.status_code == 200
        assert response["RateLimit-Limit"] == "3"
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    response = api("get", "/api/v1/key", issued.secret)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit-Remaining"] == "0"
    usage.buffer.flush()
    assert KeyUsageDay.objects.get(key=issued.key).rate_limited == 1


def test_rate_limit_defaults_to_the_plan(api, make_key, demo):
    assert api("get", "/api/v1/key", make_key().secret)["RateLimit-Limit"] == "500"
    globex_key = make_key(organization=demo.globex)
    assert api("get", "/api/v1/key", globex_key.secret)["RateLimit-Limit"] == "100"


def test_database_errors_become_503_json(api, make_key, monkeypatch):
    from django.db import DatabaseError

    from keys.authentication import verification

    issued = make_key()

    def down(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(verification, "_look_up", down)
    response = api("get", "/api/v1/key", issued.secret)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable" and response["Retry-After"] == "5"
