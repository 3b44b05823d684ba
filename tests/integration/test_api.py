"""The HTTP contract of SPEC §4 and §5: every status code, every endpoint, every header form."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.hotpath import usage
from keys.models import ApiKey, KeyUsageDay

pytestmark = pytest.mark.django_db

KEY_FIELDS = {
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
}


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    return body


# ---- §4: the four header forms, one code path ----


@pytest.mark.parametrize(
    "headers",
    [
        lambda k: {"HTTP_AUTHORIZATION": f"Bearer {k.secret}"},
        lambda k: {"HTTP_AUTHORIZATION": f"Bearer {k.key.client_id}:{k.secret}"},
        lambda k: {"HTTP_X_API_KEY": k.secret},
        lambda k: {"HTTP_X_API_KEY": f"{k.key.client_id}:{k.secret}"},
        lambda k: {"HTTP_AUTHORIZATION": f"bearer {k.secret}", "HTTP_X_API_KEY": k.secret},
    ],
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


# ---- §5 endpoints ----


def test_list_with_filters_and_paging(api, make_key, demo):
    caller = make_key(name="caller")
    for i in range(5):
        make_key(name=f"batch {i}", scopes=["api-keys:read"])
    revoked = make_key(name="old one")
    api("delete", f"/api/v1/org/api-keys/{revoked.key.pk}", caller.secret)
    body = api("get", "/api/v1/org/api-keys?limit=2&offset=1", caller.secret).json()
    assert body["total"] == 7 and len(body["data"]) == 2
    assert all(set(k) == KEY_FIELDS for k in body["data"])
    assert api("get", "/api/v1/org/api-keys?status=revoked", caller.secret).json()["total"] == 1
    assert api("get", "/api/v1/org/api-keys?status=active", caller.secret).json()["total"] == 6
    found = api("get", "/api/v1/org/api-keys?search=BATCH 3", caller.secret).json()
    assert [k["name"] for k in found["data"]] == ["batch 3"]
    assert api("get", "/api/v1/org/api-keys", caller.secret).json()["total"] == 7


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "offset=-1", "status=deleted", "search=" + "x" * 129]
)
def test_list_parameter_errors(api, make_key, query):
    assert_error(api("get", f"/api/v1/org/api-keys?{query}", make_key().secret), 400, "validation_error")


def test_create_returns_the_secret_once(api, make_key, demo):
    caller = make_key(role=Role.ADMIN_API, scopes=["api-keys:write"])
    response = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={"name": "BI pipeline", "scopes": ["api-keys:read"], "expires_in_days": 90},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == KEY_FIELDS | {"key"}
    assert body["role"] == "admin_api" and body["application"] == "portal" and body["account"] == "Acme Corp"
    assert body["status"] == "active" and body["expires_at"] and body["last_used_at"] is None
    assert api("get", "/api/v1/key", body["key"]).json()["id"] == body["id"]
    # The secret never appears again.
    again = api("get", f"/api/v1/org/api-keys/{body['id']}", caller.secret)
    assert again.status_code == 200 and body["key"] not in again.content.decode()
    assert "secret" not in again.json() and "digest" not in again.content.decode()


def test_create_for_another_application_account_and_role(api, make_key, demo):
    caller = make_key(scopes=["api-keys:write"])
    response = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={
            "name": "Charging ERP",
            "scopes": ["charge-points:read", "sessions:write"],
            "application": "incharge",
            "account": "Acme North",
            "role": "admin",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["application"], body["account"], body["role"]) == ("incharge", "Acme North", "admin")


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"scopes": ["api-keys:read"]}, 400, "validation_error"),  # missing name
        ({"name": "", "scopes": ["api-keys:read"]}, 400, "validation_error"),
        ({"name": "x" * 129, "scopes": ["api-keys:read"]}, 400, "validation_error"),
        ({"name": "n", "scopes": []}, 400, "validation_error"),
        ({"name": "n", "scopes": "api-keys:read"}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read"], "expires_in_days": 0}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read"], "expires_in_days": 3651}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read"], "role": "owner"}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read"], "application": "nope"}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read"], "surprise": 1}, 400, "validation_error"),
        ({"name": "n", "scopes": ["api-keys:read", "made-up:read"]}, 400, "invalid_scope"),
        ({"name": "taken", "scopes": ["api-keys:read"]}, 400, "name_taken"),
        ({"name": "n", "scopes": ["api-keys:read"], "role": "advanced_admin"}, 403, "forbidden"),
        ({"name": "n", "scopes": ["api-keys:read"], "account": "Acme South"}, 403, "forbidden"),
    ],
)
def test_create_errors(api, make_key, demo, payload, status, code):
    make_key(name="taken", scopes=["api-keys:read"])
    caller = make_key(role=Role.ADMIN_API, account=demo.north, scopes=["api-keys:write"])
    before = ApiKey.objects.count()
    assert_error(api("post", "/api/v1/org/api-keys", caller.secret, json=payload), status, code)
    assert ApiKey.objects.count() == before


def test_malformed_json_and_wrong_content(client, make_key):
    issued = make_key()
    for body in ("{bad", "[1, 2", "", "null", '"text"'):
        response = client.post(
            "/api/v1/org/api-keys",
            data=body,
            content_type="application/json",
            **{"HTTP_X_API_KEY": issued.secret},
        )
        assert_error(response, 400, "validation_error")


def test_key_limit_reached(api, make_key, demo):
    caller = make_key(organization=demo.globex, scopes=["api-keys:write"])
    for _ in range(9):
        make_key(organization=demo.globex)
    body = assert_error(
        api(
            "post",
            "/api/v1/org/api-keys",
            caller.secret,
            json={"name": "eleventh", "scopes": ["api-keys:read"]},
        ),
        403,
        "key_limit_reached",
    )
    assert body["error"]["message"] == "10 of 10 keys in use — revoke a key or upgrade the plan."


def test_scope_enforcement(api, make_key):
    reader = make_key(scopes=["api-keys:read"])
    writer = make_key(scopes=["api-keys:write"])
    target = make_key()
    assert_error(
        api("post", "/api/v1/org/api-keys", reader.secret, json={"name": "n", "scopes": ["api-keys:read"]}),
        403,
        "forbidden",
    )
    assert_error(api("delete", f"/api/v1/org/api-keys/{target.key.pk}", reader.secret), 403, "forbidden")
    assert_error(
        api("post", f"/api/v1/org/api-keys/{target.key.pk}/regenerate", reader.secret), 403, "forbidden"
    )
    assert_error(
        api("post", "/api/v1/keys/verify", writer.secret, json={"key": target.secret}), 403, "forbidden"
    )
    # write implies read
    assert api("get", "/api/v1/org/api-keys", writer.secret).status_code == 200
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == 4


def test_not_found_for_malformed_foreign_and_out_of_subtree_ids(api, make_key, demo):
    caller = make_key(role=Role.ADMIN_API, account=demo.north)
    foreign = make_key(organization=demo.globex)
    south = make_key(account=demo.south, role=Role.ADMIN, scopes=["api-keys:read"])
    above = make_key(account=demo.north, role=Role.ADVANCED_ADMIN)
    for key_id in (
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        foreign.key.pk,
        south.key.pk,
        above.key.pk,
    ):
        assert_error(api("get", f"/api/v1/org/api-keys/{key_id}", caller.secret), 404, "not_found")
        assert_error(api("delete", f"/api/v1/org/api-keys/{key_id}", caller.secret), 404, "not_found")
        assert_error(
            api("post", f"/api/v1/org/api-keys/{key_id}/regenerate", caller.secret), 404, "not_found"
        )
    listed = {k["id"] for k in api("get", "/api/v1/org/api-keys", caller.secret).json()["data"]}
    assert listed == {str(caller.key.pk)}
    assert_error(api("get", "/api/v1/no-such-endpoint", caller.secret), 404, "not_found")


def test_regenerate_and_grace_period(api, make_key):
    caller = make_key(name="caller")
    target = make_key(name="target")
    response = api("post", f"/api/v1/org/api-keys/{target.key.pk}/regenerate", caller.secret)
    assert response.status_code == 200
    new_secret = response.json()["key"]
    assert set(response.json()) == KEY_FIELDS | {"key"}
    assert api("get", "/api/v1/key", target.secret).status_code == 401
    assert api("get", "/api/v1/key", new_secret).status_code == 200

    response = api(
        "post",
        f"/api/v1/org/api-keys/{target.key.pk}/regenerate",
        caller.secret,
        json={"grace_period_seconds": 3600},
    )
    newest = response.json()["key"]
    assert api("get", "/api/v1/key", new_secret).status_code == 200  # old one, in its grace period
    assert api("get", "/api/v1/key", newest).status_code == 200
    for bad in (-1, 604801, "soon"):
        assert_error(
            api(
                "post",
                f"/api/v1/org/api-keys/{target.key.pk}/regenerate",
                caller.secret,
                json={"grace_period_seconds": bad},
            ),
            400,
            "validation_error",
        )


def test_revoke_takes_effect_on_the_next_request(api, make_key):
    caller = make_key(name="caller")
    target = make_key(name="target")
    assert api("get", "/api/v1/key", target.secret).status_code == 200
    response = api("delete", f"/api/v1/org/api-keys/{target.key.pk}", caller.secret)
    assert response.status_code == 204 and response.content == b""
    assert_error(api("get", "/api/v1/key", target.secret), 401, "unauthorized")
    assert api("get", f"/api/v1/org/api-keys/{target.key.pk}", caller.secret).json()["status"] == "revoked"


def test_a_key_can_revoke_itself(api, make_key):
    issued = make_key()
    assert api("delete", f"/api/v1/org/api-keys/{issued.key.pk}", issued.secret).status_code == 204
    assert api("get", "/api/v1/key", issued.secret).status_code == 401


def test_own_key_and_scopes(api, make_key, demo):
    issued = make_key(application=demo.incharge, scopes=["billing:read", "sessions:write"], rate_limit=42)
    body = api("get", "/api/v1/key", issued.secret).json()
    assert body["application"] == "incharge" and body["rate_limit"]["limit"] == 42
    assert body["rate_limit"]["remaining"] == 41
    catalogue = api("get", "/api/v1/scopes", issued.secret).json()
    assert (
        catalogue["application"] == "incharge" and catalogue["endpoint"] == "https://incharge.acme.test/api"
    )
    assert [s["name"] for s in catalogue["scopes"]][:2] == ["charge-points:read", "charge-points:write"]


def test_verify_endpoint(api, make_key, demo):
    verifier = make_key(scopes=["api-keys:verify"], name="InCharge backend")
    presented = make_key(application=demo.incharge, scopes=["billing:read"], name="customer ERP")
    foreign = make_key(organization=demo.globex)

    ok = api("post", "/api/v1/keys/verify", verifier.secret, json={"key": presented.secret}).json()
    assert ok["valid"] is True and ok["code"] == "valid" and ok["key"]["id"] == str(presented.key.pk)
    scoped = api(
        "post",
        "/api/v1/keys/verify",
        verifier.secret,
        json={"key": presented.secret, "required_scopes": ["billing:write"]},
    ).json()
    assert (scoped["valid"], scoped["code"]) == (False, "insufficient_scope")
    for bad in (credentials.new_secret("live"), "garbage", foreign.secret):
        result = api("post", "/api/v1/keys/verify", verifier.secret, json={"key": bad}).json()
        assert result == {"valid": False, "code": "unauthorized", "key": None}
    assert_error(api("post", "/api/v1/keys/verify", verifier.secret, json={}), 400, "validation_error")
    # Counts as a use of the verified key.
    usage.buffer.flush(force_last_used=True)
    day = KeyUsageDay.objects.get(key=presented.key)
    assert (day.total, day.success, day.denied) == (2, 1, 1)
    assert ApiKey.objects.get(pk=presented.key.pk).last_used_at is not None


def test_verify_applies_the_verified_keys_rate_limit(api, make_key, demo):
    verifier = make_key(scopes=["api-keys:verify"])
    presented = make_key(application=demo.incharge, scopes=["billing:read"], rate_limit=2)
    results = [
        api("post", "/api/v1/keys/verify", verifier.secret, json={"key": presented.secret}).json()["code"]
        for _ in range(3)
    ]
    assert results == ["valid", "valid", "rate_limited"]


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


def test_usage_counters_and_last_used_after_a_flush(api, make_key, settings):
    issued = make_key()
    other = make_key()
    for _ in range(3):
        api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="198.51.100.1")
    api("get", "/api/v1/org/api-keys?limit=0", issued.secret, REMOTE_ADDR="198.51.100.2")
    api("get", f"/api/v1/org/api-keys/{other.key.pk}", issued.secret, REMOTE_ADDR="198.51.100.3")
    assert not KeyUsageDay.objects.exists()  # buffered, not written per request
    assert usage.buffer.flush() == 5
    day = KeyUsageDay.objects.get(key=issued.key)
    assert (day.total, day.success, day.client_errors, day.denied, day.rate_limited) == (5, 4, 1, 0, 0)
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.last_used_at is not None
    assert [e["ip"] for e in key.recent_ips] == ["198.51.100.3", "198.51.100.2", "198.51.100.1"]


def test_recent_ips_keep_the_last_five_distinct(api, make_key):
    issued = make_key()
    for i in range(8):
        api("get", "/api/v1/key", issued.secret, REMOTE_ADDR=f"192.0.2.{i}")
    api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="192.0.2.4")
    usage.buffer.flush(force_last_used=True)
    ips = [e["ip"] for e in ApiKey.objects.get(pk=issued.key.pk).recent_ips]
    assert ips[0] == "192.0.2.4" and len(ips) == 5 and len(set(ips)) == 5


def test_last_used_written_at_most_once_a_minute(api, make_key, django_assert_num_queries):
    issued = make_key()
    api("get", "/api/v1/key", issued.secret)
    usage.buffer.flush()
    first = ApiKey.objects.get(pk=issued.key.pk).last_used_at
    api("get", "/api/v1/key", issued.secret)
    usage.buffer.flush()
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at == first
    assert KeyUsageDay.objects.get(key=issued.key).total == 2


def test_openapi_document_and_docs(client):
    document = client.get("/api/v1/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/org/api-keys",
        "/api/v1/org/api-keys/{key_id}",
        "/api/v1/org/api-keys/{key_id}/regenerate",
        "/api/v1/key",
        "/api/v1/scopes",
        "/api/v1/keys/verify",
    ):
        assert path in paths
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()


def test_openapi_document_validates(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json())


def test_health_probes(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_healthz_touches_neither_database_nor_cache(client, django_assert_num_queries, monkeypatch):
    from django.core.cache import cache

    def boom(*args, **kwargs):
        raise AssertionError("healthz used the cache")

    monkeypatch.setattr(cache, "get", boom)
    monkeypatch.setattr(cache, "set", boom)
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


def test_readyz_answers_503_when_the_database_is_down(client, monkeypatch):
    from django.db.backends.base import base

    def down(self, *args, **kwargs):
        raise base.DatabaseError("connection refused")

    monkeypatch.setattr("django.db.backends.utils.CursorWrapper.execute", down)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["database"] == "unavailable"


def test_wrong_method_is_refused(api, make_key):
    assert api("put", "/api/v1/key", make_key().secret).status_code == 405


def test_fast_own_key_body_matches_the_documented_schema(api, make_key):
    from keys.api.rest import OwnKeyOut

    issued = make_key(expires_in_days=10)
    response = api("get", "/api/v1/key", issued.secret)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert OwnKeyOut.model_validate(body).model_dump(mode="json") == body
    assert body["expires_at"].endswith("Z") or "+00:00" in body["expires_at"]
