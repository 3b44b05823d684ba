"""keys/api/rest.py: every endpoint of the REST API, every status code and error code it answers,
bad bodies and parameters as clear 400s, and its OpenAPI document."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.api.rest import KeyUsageOut
from keys.filters import MAX_SEARCH_LENGTH
from keys.metering import usage
from keys.models import ApiKey, KeyUsageDay
from tests.helpers.api import KEY_FIELDS, assert_error
from tests.helpers.bulk import bulk_keys

pytestmark = pytest.mark.django_db
ONE_DAY = timedelta(days=1)

# The one form of a time in every answer: UTC with milliseconds.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


# ---- listing, creating, reading, regenerating and revoking an organization's keys ----


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


def test_list_pages_by_cursor_without_skipping_or_repeating_keys_created_meanwhile(api, make_key, demo):
    caller = make_key(name="caller")
    bulk_keys(
        demo.acme, 23, applications=[demo.portal], accounts=[demo.acme_root], newest=timezone.now() - ONE_DAY
    )
    existing = {k["id"] for k in api("get", "/api/v1/org/api-keys?limit=100", caller.secret).json()["data"]}
    seen: list[str] = []
    body = api("get", "/api/v1/org/api-keys?limit=5", caller.secret).json()
    assert body["previous"] is None and body["total"] == 24
    created = 0
    while True:
        seen += [k["id"] for k in body["data"]]
        if body["next"] is None:
            break
        make_key(name=f"meanwhile {created}")  # newest of all: above every cursor
        created += 1
        body = api("get", f"/api/v1/org/api-keys?limit=5&cursor={body['next']}", caller.secret).json()
        assert body["previous"] is not None
    assert len(seen) == len(set(seen)) and set(seen) == existing
    back = api("get", f"/api/v1/org/api-keys?limit=5&cursor={body['previous']}", caller.secret).json()
    assert [k["id"] for k in back["data"]] == seen[-9:-4]


def test_an_offset_page_hands_out_cursors_too(api, make_key, demo):
    caller = make_key(name="caller")
    bulk_keys(
        demo.acme, 12, applications=[demo.portal], accounts=[demo.acme_root], newest=timezone.now() - ONE_DAY
    )
    everything = [k["id"] for k in api("get", "/api/v1/org/api-keys?limit=100", caller.secret).json()["data"]]
    page = api("get", "/api/v1/org/api-keys?limit=4&offset=4", caller.secret).json()
    assert [k["id"] for k in page["data"]] == everything[4:8]
    after = api("get", f"/api/v1/org/api-keys?limit=4&cursor={page['next']}", caller.secret).json()
    before = api("get", f"/api/v1/org/api-keys?limit=4&cursor={page['previous']}", caller.secret).json()
    assert [k["id"] for k in after["data"]] == everything[8:12]
    assert [k["id"] for k in before["data"]] == everything[0:4] and before["previous"] is None
    last = api("get", "/api/v1/org/api-keys?limit=4&offset=12", caller.secret).json()
    assert len(last["data"]) == 1 and last["next"] is None


@pytest.mark.parametrize(
    "query",
    ["cursor=not-one-of-ours", "cursor=bad%20chars", "cursor=" + "x" * 201, "offset=1000001"],
)
def test_bad_cursors_and_offsets_are_a_400(api, make_key, query):
    assert_error(api("get", f"/api/v1/org/api-keys?{query}", make_key().secret), 400, "validation_error")


def test_a_cursor_with_an_offset_is_a_400(api, make_key):
    caller = make_key()
    make_key()
    cursor = api("get", "/api/v1/org/api-keys?limit=1", caller.secret).json()["next"]
    body = assert_error(
        api("get", f"/api/v1/org/api-keys?limit=1&offset=1&cursor={cursor}", caller.secret),
        400,
        "validation_error",
    )
    assert "either offset or cursor" in body["error"]["message"]


def test_listing_costs_the_same_queries_at_any_size_and_depth(api, make_key, demo, settings):
    # The calling key is verified once and then trusted from the worker's cache: long enough here
    # that a slow machine cannot expire it between two counted calls (and count its look-up).
    settings.KEY_CACHE_TTL_SECONDS = 600
    caller = make_key(name="caller")
    api("get", "/api/v1/key", caller.secret)  # the key is verified (and cached) once

    def counts() -> dict[str, int]:
        found = {}
        first = api("get", "/api/v1/org/api-keys?limit=2", caller.secret).json()
        for name, query in (
            ("first", "limit=2"),
            ("offset", "limit=2&offset=3"),
            ("cursor", f"limit=2&cursor={first['next']}"),
            ("search", "limit=2&search=bulk"),
        ):
            with CaptureQueriesContext(connection) as queries:
                assert api("get", f"/api/v1/org/api-keys?{query}", caller.secret).status_code == 200
            found[name] = len(queries)
        return found

    bulk_keys(demo.acme, 5, applications=[demo.portal], accounts=[demo.acme_root])
    few = counts()
    bulk_keys(
        demo.acme, 400, applications=[demo.portal], accounts=[demo.acme_root, demo.north], prefix="more"
    )
    assert counts() == few


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "status=deleted",
        "search=" + "x" * (MAX_SEARCH_LENGTH + 1),
    ],
)
def test_list_parameter_errors(api, make_key, query):
    assert_error(api("get", f"/api/v1/org/api-keys?{query}", make_key().secret), 400, "validation_error")


def test_a_search_is_as_long_as_in_the_portal(api, make_key):
    """REST takes a search as long as the portal's search box does (keys.filters.MAX_SEARCH_LENGTH)."""
    caller = make_key()
    answer = api("get", "/api/v1/org/api-keys?search=" + "x" * MAX_SEARCH_LENGTH, caller.secret)
    assert answer.status_code == 200 and answer.json()["data"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=99999999999999999999", "limit: must be at most 100"),
        ("offset=99999999999999999999", "offset: must be at most 1000000"),
        ("offset=1e9", "offset: must be a whole number"),
        ("limit=-5", "limit: must be at least 1"),
        ("search=%00", "search: may not contain a NUL character"),
    ],
)
def test_huge_or_strange_paging_values(api, make_key, query, message):
    response = api("get", f"/api/v1/org/api-keys?{query}", make_key().secret)
    assert assert_error(response, 400, "validation_error")["error"]["message"] == message


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


def test_create_for_another_account_and_role_never_another_application(api, make_key, demo):
    caller = make_key(scopes=["api-keys:write"])
    body = {"name": "Portal reader", "scopes": ["api-keys:read"], "account": "Acme North", "role": "admin"}
    response = api("post", "/api/v1/org/api-keys", caller.secret, json=body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["application"], created["account"], created["role"]) == ("portal", "Acme North", "admin")
    # Its scopes are the portal's: a key made by it may carry no other application's.
    other = {**body, "name": "Charging ERP", "scopes": ["charge-points:read"], "application": "incharge"}
    refused = api("post", "/api/v1/org/api-keys", caller.secret, json=other)
    assert (
        "must belong to API Key Portal"
        in assert_error(refused, 403, "exceeds_parent_key")["error"]["message"]
    )


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
        assert_error(api("get", f"/api/v1/org/api-keys/{key_id}/usage", caller.secret), 404, "not_found")
    listed = {k["id"] for k in api("get", "/api/v1/org/api-keys", caller.secret).json()["data"]}
    assert listed == {str(caller.key.pk)}
    # The same paths answer for a key the caller may see (a missing route would be a 404 too).
    assert api("get", f"/api/v1/org/api-keys/{caller.key.pk}/usage", caller.secret).status_code == 200
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


# ---- a key's usage, day by day ----


def test_usage_has_every_day_with_zeros_and_totals(api, make_key):
    caller = make_key(name="caller", scopes=["api-keys:read"])
    target = make_key(name="target").key
    today = timezone.now().date()
    KeyUsageDay.objects.create(
        key=target,
        day=today,
        total=100,
        success=90,
        client_errors=4,
        denied=2,
        rate_limited=3,
        server_errors=1,
    )
    KeyUsageDay.objects.create(key=target, day=today - timedelta(days=2), total=7, success=7)
    KeyUsageDay.objects.create(key=target, day=today - timedelta(days=3), total=50, success=50)  # outside
    KeyUsageDay.objects.create(key=caller.key, day=today, total=11, success=11)  # another key's
    response = api("get", f"/api/v1/org/api-keys/{target.pk}/usage?days=3", caller.secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert KeyUsageOut.model_validate(body).model_dump(mode="json") == body
    assert body == {
        "key_id": str(target.pk),
        "days": 3,
        "data": [
            {"date": str(today - timedelta(days=2)), "calls": 7, "errors": 0, "rate_limited": 0},
            {"date": str(today - timedelta(days=1)), "calls": 0, "errors": 0, "rate_limited": 0},
            {"date": str(today), "calls": 100, "errors": 7, "rate_limited": 3},
        ],
        "totals": {"calls": 107, "errors": 7, "rate_limited": 3},
    }
    default = api("get", f"/api/v1/org/api-keys/{target.pk}/usage", caller.secret).json()
    assert default["days"] == 30 and len(default["data"]) == 30
    assert default["data"][0]["date"] == str(today - timedelta(days=29)) and default["data"][-1][
        "date"
    ] == str(today)
    assert default["totals"] == {"calls": 157, "errors": 7, "rate_limited": 3}
    widest = api("get", f"/api/v1/org/api-keys/{target.pk}/usage?days=90", caller.secret).json()
    assert len(widest["data"]) == 90
    own = api("get", f"/api/v1/org/api-keys/{caller.key.pk}/usage?days=1", caller.secret).json()
    assert own["data"] == [{"date": str(today), "calls": 11, "errors": 0, "rate_limited": 0}]


@pytest.mark.parametrize("days", ["0", "91", "abc", "-1", "1.5", "", "99999999999999999999"])
def test_usage_days_outside_1_to_90_is_a_400(api, make_key, days):
    issued = make_key()
    response = api("get", f"/api/v1/org/api-keys/{issued.key.pk}/usage?days={days}", issued.secret)
    body = assert_error(response, 400, "validation_error")
    assert "days" in body["error"]["message"]


def test_usage_needs_a_key_with_the_read_scope(api, make_key):
    target = make_key(name="target").key
    path = f"/api/v1/org/api-keys/{target.pk}/usage"
    assert_error(api("get", path), 401, "unauthorized")
    assert_error(api("get", path, credentials.new_secret("live")), 401, "unauthorized")
    verifier = make_key(name="verifier", scopes=["api-keys:verify"])
    before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()
    body = assert_error(api("get", path, verifier.secret), 403, "forbidden")
    assert "api-keys:read" in body["error"]["message"]
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() == before + 1
    writer = make_key(name="writer", scopes=["api-keys:write"])  # write implies read
    assert api("get", path, writer.secret).status_code == 200


# ---- the calling key itself, and verifying another key ----


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


def test_fast_own_key_body_matches_the_documented_schema(api, make_key):
    from keys.api.rest import OwnKeyOut

    issued = make_key(expires_in_days=10)
    response = api("get", "/api/v1/key", issued.secret)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    validated = OwnKeyOut.model_validate(body).model_dump(mode="json", exclude={"created_at", "expires_at"})
    assert validated == {k: v for k, v in body.items() if k not in ("created_at", "expires_at")}
    same_key = api("get", f"/api/v1/org/api-keys/{issued.key.pk}", issued.secret).json()
    assert (body["created_at"], body["expires_at"]) == (same_key["created_at"], same_key["expires_at"])
    assert TIMESTAMP.fullmatch(body["created_at"]) and TIMESTAMP.fullmatch(body["expires_at"])


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


# ---- bad requests ----


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
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize("field", ["account", "application"])
def test_nul_characters_in_lookups_are_a_400(api, make_key, field):
    body = {"name": "n", "scopes": ["api-keys:read"], field: "bad\x00value"}
    response = api("post", "/api/v1/org/api-keys", make_key().secret, json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"


def test_wrong_method_is_refused(api, make_key):
    assert api("put", "/api/v1/key", make_key().secret).status_code == 405


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


# ---- the OpenAPI document ----


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
        "/api/v1/org/api-keys/{key_id}/usage",
        "/api/v1/key",
        "/api/v1/scopes",
        "/api/v1/keys/verify",
    ):
        assert path in paths
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()


def test_openapi_document_describes_cursor_paging(client):
    spec = client.get("/api/v1/openapi.json").json()
    listing = spec["paths"]["/api/v1/org/api-keys"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert "cursor" in parameters and "next" in parameters["cursor"]["description"]
    assert parameters["offset"]["schema"]["maximum"] == 1_000_000
    assert "cursor" in parameters["offset"]["description"]
    page = spec["components"]["schemas"]["KeyListOut"]["properties"]
    assert {"data", "total", "next", "previous"} <= set(page) and "cursor" in page["next"]["description"]


def test_openapi_document_validates(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/v1/openapi.json").json())


def test_openapi_document_describes_the_usage_export(client):
    spec = client.get("/api/v1/openapi.json").json()
    operation = spec["paths"]["/api/v1/org/api-keys/{key_id}/usage"]["get"]
    assert operation["operationId"] == "getApiKeyUsage"
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "429", "503"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ok.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"key_id", "days", "data", "totals"}
    (days,) = [p for p in operation["parameters"] if p["name"] == "days"]
    assert days["in"] == "query" and not days.get("required")
    assert (days["schema"]["minimum"], days["schema"]["maximum"], days["schema"]["default"]) == (1, 90, 30)


def test_the_openapi_document_has_a_file_name_and_downloads_on_request(client):
    shown = client.get("/api/v1/openapi.json")
    assert shown.status_code == 200 and shown.json()["info"]["title"] == "API Key Portal"
    assert shown["Content-Disposition"] == 'inline; filename="api-key-portal-openapi.json"'
    saved = client.get("/api/v1/openapi.json?download")
    assert saved["Content-Disposition"] == 'attachment; filename="api-key-portal-openapi.json"'
    assert saved.json() == shown.json()


def test_disable_and_enable_endpoints(api, make_key, demo):
    caller = make_key(name="caller")
    target = make_key(name="target", scopes=["api-keys:read"])
    body = api("post", f"/api/v1/org/api-keys/{target.key.pk}/disable", caller.secret).json()
    assert body["status"] == "disabled" and set(body) == KEY_FIELDS
    assert_error(api("get", "/api/v1/key", target.secret), 401, "unauthorized")
    listed = api("get", "/api/v1/org/api-keys?status=disabled", caller.secret).json()
    assert [k["name"] for k in listed["data"]] == ["target"]
    assert (
        api("post", f"/api/v1/org/api-keys/{target.key.pk}/enable", caller.secret).json()["status"]
        == "active"
    )
    assert api("get", "/api/v1/key", target.secret).status_code == 200
    api("delete", f"/api/v1/org/api-keys/{target.key.pk}", caller.secret)
    for action in ("disable", "enable"):
        response = api("post", f"/api/v1/org/api-keys/{target.key.pk}/{action}", caller.secret)
        assert_error(response, 409, "key_not_active")
    foreign = make_key(organization=demo.globex, name="globex")
    assert_error(
        api("post", f"/api/v1/org/api-keys/{foreign.key.pk}/disable", caller.secret), 404, "not_found"
    )
    reader = make_key(name="reader", scopes=["api-keys:read"])
    assert_error(
        api("post", f"/api/v1/org/api-keys/{caller.key.pk}/disable", reader.secret), 403, "forbidden"
    )


def test_operation_ids_and_tags_name_what_generated_clients_call(client):
    """Clients generated from the document name their methods and modules after these: they change
    only on purpose (they were django-ninja's ``keys_api_<function>`` before this release)."""
    operations = {
        (method.upper(), path): (operation["operationId"], operation["tags"])
        for path, methods in client.get("/api/v1/openapi.json").json()["paths"].items()
        for method, operation in methods.items()
    }
    assert operations == {
        ("GET", "/api/v1/org/api-keys"): ("listApiKeys", ["api-keys"]),
        ("POST", "/api/v1/org/api-keys"): ("createApiKey", ["api-keys"]),
        ("GET", "/api/v1/org/api-keys/{key_id}"): ("getApiKey", ["api-keys"]),
        ("POST", "/api/v1/org/api-keys/lookup"): ("lookUpApiKey", ["api-keys"]),
        ("POST", "/api/v1/secret-scanning/github"): ("reportLeakedSecretsGitHub", ["secret-scanning"]),
        ("DELETE", "/api/v1/org/api-keys/{key_id}"): ("revokeApiKey", ["api-keys"]),
        ("GET", "/api/v1/org/api-keys/{key_id}/usage"): ("getApiKeyUsage", ["api-keys"]),
        ("GET", "/api/v1/org/api-keys/{key_id}/requests"): ("listApiKeyRequests", ["api-keys"]),
        ("POST", "/api/v1/org/api-keys/{key_id}/regenerate"): ("regenerateApiKey", ["api-keys"]),
        ("POST", "/api/v1/org/api-keys/{key_id}/disable"): ("disableApiKey", ["api-keys"]),
        ("POST", "/api/v1/org/api-keys/{key_id}/enable"): ("enableApiKey", ["api-keys"]),
        ("GET", "/api/v1/key"): ("getCurrentApiKey", ["current-key"]),
        ("GET", "/api/v1/scopes"): ("listScopes", ["current-key"]),
        ("POST", "/api/v1/keys/verify"): ("verifyApiKey", ["verification"]),
    }


def test_old_scope_names_are_accepted_on_input_and_never_output(api, make_key, demo):
    caller = make_key(name="caller")
    body = {"name": "legacy client", "scopes": ["read:api_keys", "write:api_keys"]}
    created = api("post", "/api/v1/org/api-keys", caller.secret, json=body)
    assert created.status_code == 201, created.content
    assert sorted(created.json()["scopes"]) == ["api-keys:read", "api-keys:write"]
    verifier = make_key(name="verifier", scopes=["api-keys:verify"])
    answer = api(
        "post",
        "/api/v1/keys/verify",
        verifier.secret,
        json={"key": created.json()["key"], "required_scopes": ["read:api_keys"]},
    ).json()
    assert answer["valid"] is True and sorted(answer["key"]["scopes"]) == ["api-keys:read", "api-keys:write"]


@pytest.mark.parametrize("configured", ["", "https://keys.example.com"])
def test_the_portal_applications_endpoint_is_where_the_portal_is_served(
    api, client, login, make_key, demo, settings, configured
):
    settings.PORTAL_BASE_URL = configured
    demo.portal.base_url = "http://stale.example:8000"
    demo.portal.save()
    base = configured or "http://testserver"
    issued = make_key()
    assert api("get", "/api/v1/scopes", issued.secret).json()["endpoint"] == f"{base}/api/v1"
    session = login("advanced@acme.test")
    for path in ("/settings/applications/", "/settings/applications/portal/"):
        html = session.get(path).content.decode()
        assert f"{base}/api/v1" in html and "stale.example" not in html
    form = session.post(
        "/settings/api-keys/new/",
        {
            "application": demo.portal.pk,
            "role": 50,
            "account": demo.acme_root.pk,
            "name": "where to",
            "expiry": "never",
            "scopes": ["api-keys:read"],
        },
    )
    assert f"{base}/api/v1" in form.content.decode() and "stale.example" not in form.content.decode()


# ---- allowed networks ----


def test_a_key_is_refused_outside_its_allowed_networks(api, make_key):
    issued = make_key(name="plant gateway", allowed_ips=["192.0.2.0/24", "2001:db8::/32"], rate_limit=2)
    inside = api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="192.0.2.44")
    assert inside.status_code == 200
    assert inside.json()["allowed_ips"] == ["192.0.2.0/24", "2001:db8::/32"]
    assert api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="2001:db8::9").status_code == 200
    for _ in range(3):
        outside = api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="198.51.100.9")
        body = assert_error(outside, 403, "ip_not_allowed")
        assert "198.51.100.9" in body["error"]["message"]
        assert outside["RateLimit-Limit"] == "2"
    # Refusals spend nothing of the rate limit of the integration on the allowed network...
    assert outside["RateLimit-Remaining"] == "0"  # two calls made from inside
    # ...are audited against the key, once a minute per address...
    refused = AuditEvent.objects.filter(action=AuditAction.KEY_IP_REFUSED)
    assert [(e.key_id, e.ip, e.actor_key_id) for e in refused] == [
        (issued.key.pk, "198.51.100.9", issued.key.pk)
    ]
    # ...and counted as errors in its usage.
    usage.buffer.flush(force_last_used=True)
    day = KeyUsageDay.objects.get(key=issued.key)
    assert (day.total, day.success, day.denied) == (5, 2, 3)


def test_behind_a_proxy_the_forwarded_address_decides(api, make_key, settings):
    settings.PROXY_COUNT = 1
    issued = make_key(allowed_ips=["192.0.2.0/24"])
    through_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    allowed = api("get", "/api/v1/key", issued.secret, HTTP_X_FORWARDED_FOR="192.0.2.5", **through_proxy)
    assert allowed.status_code == 200
    # A client cannot pretend: the proxy appends the address it saw, and only that one is trusted.
    spoofed = api(
        "get", "/api/v1/key", issued.secret, HTTP_X_FORWARDED_FOR="192.0.2.5, 198.51.100.9", **through_proxy
    )
    assert_error(spoofed, 403, "ip_not_allowed")
    # Without the proxy's entry the address is unknown: never the proxy's own, even inside the list.
    near_proxy = make_key(name="near the proxy", allowed_ips=["10.0.0.0/8"])
    assert_error(api("get", "/api/v1/key", near_proxy.secret, **through_proxy), 403, "ip_not_allowed")


def test_create_with_allowed_networks(api, make_key):
    caller = make_key()
    created = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={"name": "SCADA", "scopes": ["api-keys:read"], "allowed_ips": ["203.0.113.7", "2001:DB8::/48"]},
    )
    assert created.status_code == 201, created.content
    assert created.json()["allowed_ips"] == ["203.0.113.7", "2001:db8::/48"]
    shown = api("get", f"/api/v1/org/api-keys/{created.json()['id']}", caller.secret).json()
    assert shown["allowed_ips"] == ["203.0.113.7", "2001:db8::/48"]
    for bad, says in (
        (["intranet"], "“intranet” is not an IP address or a CIDR range"),
        (["192.0.2.7/24"], "did you mean 192.0.2.0/24"),
        ([f"10.0.{i}.0/24" for i in range(33)], "allowed_ips"),
    ):
        response = api(
            "post",
            "/api/v1/org/api-keys",
            caller.secret,
            json={"name": "bad", "scopes": ["api-keys:read"], "allowed_ips": bad},
        )
        assert says in assert_error(response, 400, "validation_error")["error"]["message"]
    assert not ApiKey.objects.filter(name="bad").exists()


def test_verify_checks_the_presented_keys_networks_against_client_ip(api, make_key):
    verifier = make_key(scopes=["api-keys:verify"])
    limited = make_key(name="limited", scopes=["api-keys:read"], allowed_ips=["192.0.2.0/24"])

    def verify(**body):
        return api("post", "/api/v1/keys/verify", verifier.secret, json={"key": limited.secret, **body})

    assert verify(client_ip="192.0.2.10").json()["code"] == "valid"
    outside = verify(client_ip="198.51.100.1").json()
    assert (outside["valid"], outside["code"], outside["key"]["name"]) == (False, "ip_not_allowed", "limited")
    # Without the address the rule cannot be checked, so the key is not valid.
    assert verify().json()["code"] == "ip_not_allowed"
    body = assert_error(verify(client_ip="not-an-ip"), 400, "validation_error")
    assert "client_ip" in body["error"]["message"]
    # A key without a list is valid from anywhere, with or without the address.
    anywhere = make_key(name="anywhere", scopes=["api-keys:read"])
    result = api("post", "/api/v1/keys/verify", verifier.secret, json={"key": anywhere.secret}).json()
    assert result["code"] == "valid"
