"""keys/api/graphql: the same key, rules and services as REST, over GraphQL; and a member's session."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import hypothesis_graphql
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from audit.models import AuditAction, AuditEvent
from keys import credentials
from keys.api.graphql.view import schema
from keys.metering import usage
from keys.models import ApiKey
from tests.helpers.api import HEADER_FORMS, bearer
from tests.helpers.demo import ROLE_EMAILS
from tests.helpers.graphql import GRAPHQL, KEY_FIELDS, assert_graphql_error, error_codes, graphql

pytestmark = pytest.mark.django_db

CREATE = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id name role account application status } clientSecret }
}"""


def data(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


# ---- authentication: the same four header forms and the same refusals as REST ----


@pytest.mark.parametrize("headers", HEADER_FORMS)
def test_every_header_form_authenticates(client, make_key, headers):
    issued = make_key()
    response = graphql(client, f"{{ currentKey {{ {KEY_FIELDS} }} }}", **headers(issued))
    key = data(response)["currentKey"]
    assert key["id"] == str(issued.key.pk) and key["clientId"] == issued.key.client_id
    assert key["status"] == "ACTIVE" and key["role"] == "ADVANCED_ADMIN" and key["application"] == "portal"
    for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert header in response


@pytest.mark.parametrize("how", ["none", "malformed", "unknown", "revoked", "expired"])
def test_unauthenticated_is_a_401(client, make_key, how):
    issued = make_key()
    if how == "revoked":
        ApiKey.objects.filter(pk=issued.key.pk).update(revoked_at=timezone.now())
    if how == "expired":
        ApiKey.objects.filter(pk=issued.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    secret = {
        "none": None,
        "malformed": "hello",
        "unknown": credentials.new_secret("live"),
        "revoked": issued.secret,
        "expired": issued.secret,
    }[how]
    response = graphql(client, "{ currentKey { id } }", secret)
    assert_graphql_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_key_in_the_url_is_refused(client, make_key):
    issued = make_key()
    response = client.post(f"{GRAPHQL}?key={issued.secret}", data="{}", content_type="application/json")
    assert_graphql_error(response, 401, "unauthenticated")


def test_rate_limited_is_a_429_with_retry_after(client, make_key):
    issued = make_key(rate_limit=2)
    for _ in range(2):
        data(graphql(client, "{ currentKey { id } }", issued.secret))
    response = graphql(client, "{ currentKey { id } }", issued.secret)
    assert_graphql_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) >= 1 and response["RateLimit-Remaining"] == "0"


def test_one_request_is_one_unit_of_the_rate_limit_and_one_counted_use(client, make_key):
    issued = make_key(rate_limit=10)
    usage.buffer.clear()
    response = graphql(
        client, "{ a: currentKey { id } b: currentKey { name } c: apiKeys { total } }", issued.secret
    )
    data(response)
    assert response["RateLimit-Remaining"] == "9"
    usage.buffer.flush(force_last_used=True)
    assert issued.key.usage_days.get().total == 1
    issued.key.refresh_from_db()
    assert issued.key.last_used_at is not None


# ---- the GraphQL error table, for a key ----


def test_access_denied_for_a_missing_scope_is_audited(client, make_key):
    reader = make_key(scopes=["api-keys:read"])
    response = graphql(
        client, CREATE, reader.secret, variables={"input": {"name": "n", "scopes": ["api-keys:read"]}}
    )
    assert_graphql_error(response, 200, "access_denied")
    assert response.json()["data"] == {"createApiKey": None}
    assert AuditEvent.objects.filter(
        action=AuditAction.PERMISSION_DENIED, actor_key_id=reader.key.pk
    ).exists()
    writer_only = make_key(application=None, scopes=["api-keys:verify"])
    assert_graphql_error(graphql(client, "{ apiKeys { total } }", writer_only.secret), 200, "access_denied")


def test_not_found_for_unknown_malformed_and_foreign_ids(client, make_key, demo):
    caller = make_key()
    foreign = make_key(organization=demo.globex)
    for key_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", str(foreign.key.pk)):
        response = graphql(
            client, "query($id: ID!) { apiKey(id: $id) { id } }", caller.secret, variables={"id": key_id}
        )
        assert_graphql_error(response, 200, "not_found")
        response = graphql(
            client,
            "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
            caller.secret,
            variables={"id": key_id},
        )
        assert_graphql_error(response, 200, "not_found")
    assert ApiKey.objects.get(pk=foreign.key.pk).revoked_at is None


def test_user_only_and_key_only_fields(client, make_key, login):
    issued = make_key()
    assert_graphql_error(
        graphql(client, "{ currentUser { email } }", issued.secret), 200, "unsupported_with_api_key"
    )
    session = login("advanced@acme.test")
    assert_graphql_error(graphql(session, "{ currentKey { id } }"), 200, "unsupported_with_session")
    assert data(graphql(session, "{ currentUser { email role organization } }"))["currentUser"] == {
        "email": "advanced@acme.test",
        "role": "ADVANCED_ADMIN",
        "organization": "acme",
    }


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"name": "x" * 129, "scopes": ["api-keys:read"]}, "bad_user_input"),
        ({"name": "n", "scopes": ["api-keys:read"], "expiresInDays": 0}, "bad_user_input"),
        ({"name": "n", "scopes": ["api-keys:read"], "role": "viewer"}, "graphql_validation_failed"),
        ({"name": "n", "scopes": ["api-keys:read"], "account": "Nowhere"}, "bad_user_input"),
        ({"name": "n", "scopes": ["nope:read"]}, "invalid_scope"),
        ({"name": "n", "scopes": ["api-keys:read"], "role": "SUPPORT"}, None),
        ({"name": "n", "scopes": ["billing:read"], "application": "incharge"}, "exceeds_parent_key"),
    ],
)
def test_create_refusals_have_their_codes(client, make_key, variables, code):
    issued = make_key()
    response = graphql(client, CREATE, issued.secret, variables={"input": variables})
    if code is None:
        assert data(response)["createApiKey"]["apiKey"]["role"] == "SUPPORT"
    elif code == "graphql_validation_failed":  # a role is a KeyRole value (SUPPORT), not REST's support
        assert_graphql_error(response, 400, code)
    else:
        assert_graphql_error(response, 200, code)


def test_name_taken_key_limit_and_key_not_active(client, make_key, demo):
    issued = make_key(name="taken")
    response = graphql(
        client, CREATE, issued.secret, variables={"input": {"name": "TAKEN", "scopes": ["api-keys:read"]}}
    )
    assert_graphql_error(response, 200, "name_taken")
    globex = make_key(organization=demo.globex, name="globex caller")
    for n in range(9):
        make_key(organization=demo.globex, name=f"globex {n}", scopes=["api-keys:read"])
    response = graphql(
        client, CREATE, globex.secret, variables={"input": {"name": "eleven", "scopes": ["api-keys:read"]}}
    )
    assert_graphql_error(response, 200, "key_limit_reached")
    revoked = make_key(name="gone")
    graphql(
        client,
        "mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
        issued.secret,
        variables={"id": str(revoked.key.pk)},
    )
    response = graphql(
        client,
        "mutation($id: ID!) { regenerateApiKey(id: $id) { clientSecret } }",
        issued.secret,
        variables={"id": str(revoked.key.pk)},
    )
    assert_graphql_error(response, 200, "key_not_active")


def test_paging_limits_are_bad_user_input(client, make_key):
    issued = make_key()
    for args in ("first: 0", "first: 101", "offset: -1"):
        assert_graphql_error(
            graphql(client, f"{{ apiKeys({args}) {{ total }} }}", issued.secret), 200, "bad_user_input"
        )


# ---- requests refused before any resolver runs: 400 ----


def test_more_than_200_fields_or_aliases_or_64_kib_is_too_complex(client, make_key):
    issued = make_key()
    two_hundred = "{ currentKey { " + " ".join(f"n{i}: name" for i in range(199)) + " } }"
    assert len(data(graphql(client, two_hundred, issued.secret))["currentKey"]) == 199
    aliases = "{ " + " ".join(f"a{i}: currentKey {{ id }}" for i in range(101)) + " }"
    assert_graphql_error(graphql(client, aliases, issued.secret), 400, "query_too_complex")
    fields = "{ currentKey { " + " ".join(f"n{i}: name" for i in range(200)) + " } }"
    assert_graphql_error(graphql(client, fields, issued.secret), 400, "query_too_complex")
    # Fragments count where they are spread.
    spread = "fragment F on ApiKey { " + " ".join(f"n{i}: name" for i in range(60)) + " } "
    spread += (
        "{ a: currentKey { ...F } b: currentKey { ...F } c: currentKey { ...F } d: currentKey { ...F } }"
    )
    assert_graphql_error(graphql(client, spread, issued.secret), 400, "query_too_complex")
    big = "{ currentKey { id } }" + " " * (64 * 1024)
    assert_graphql_error(graphql(client, big, issued.secret), 400, "query_too_complex")


def test_more_than_ten_levels_is_too_complex_before_anything_else(client, make_key):
    issued = make_key()
    ten = "{ a { b { c { d { e { f { g { h { i { j } } } } } } } } } }"
    assert error_codes(graphql(client, ten, issued.secret)) == ["graphql_validation_failed"]  # no such fields
    eleven = "{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }"
    assert_graphql_error(graphql(client, eleven, issued.secret), 400, "query_too_complex")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{ not json", "bad_request"),
        (
            b'[{"query": "{ currentKey { id } }"}, {"query": "{ currentKey { id } }"}]',
            "batching_not_supported",
        ),
        (b'{"query": 42}', "bad_request"),
        (b'{"query": "{ currentKey { id } }", "variables": [1]}', "bad_request"),
        (b'{"query": "{ currentKey { id "}', "graphql_parse_failed"),
        (b'{"query": "{ currentKey { nope } }"}', "graphql_validation_failed"),
        (
            b'{"query": "query($n: Int) { apiKeys(first: $n) { total } }", "variables": {"n": "x"}}',
            "graphql_validation_failed",
        ),
    ],
)
def test_request_errors_are_400(client, make_key, body, code):
    issued = make_key()
    response = client.post(GRAPHQL, data=body, content_type="application/json", **bearer(issued.secret))
    assert_graphql_error(response, 400, code)
    assert "data" not in response.json()


def test_other_methods_are_405(client, make_key):
    issued = make_key()
    response = client.put(GRAPHQL, data="{}", content_type="application/json", **bearer(issued.secret))
    assert_graphql_error(response, 405, "method_not_allowed")


def test_a_secret_in_a_variable_is_never_echoed(client, make_key):
    issued = make_key()
    secret = credentials.new_secret("live")
    response = graphql(
        client, "query($n: Int) { apiKeys(first: $n) { total } }", issued.secret, variables={"n": secret}
    )
    assert response.status_code == 400 and secret not in response.content.decode()


def test_an_unexpected_failure_is_internal_error_without_a_trace(client, make_key, monkeypatch, caplog):
    verifier = make_key(scopes=["api-keys:verify"])
    presented = make_key(name="presented", scopes=["api-keys:read"])

    def broken(key):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("keys.api.serializers.role_name", broken)
    query = "mutation($k: String!) { verifyApiKey(key: $k) { valid apiKey { name role } } }"
    response = graphql(client, query, verifier.secret, variables={"k": presented.secret})
    assert response.status_code == 200
    # Partial data where GraphQL allows it: apiKey may be null, valid is still there.
    assert response.json()["data"] == {"verifyApiKey": {"valid": True, "apiKey": None}}
    assert error_codes(response) == ["internal_error"]
    assert "fire" not in response.content.decode() and "Traceback" not in response.content.decode()
    assert "database on fire" in caplog.text


# ---- the same rules as REST: tenancy, role caps, subtree ----


def test_a_globex_key_never_sees_an_acme_key(client, make_key, demo):
    make_key(name="acme secret project")
    globex = make_key(organization=demo.globex, name="globex key")
    page = data(graphql(client, "{ apiKeys { total items { name } } }", globex.secret))["apiKeys"]
    assert page == {"total": 1, "items": [{"name": "globex key"}]}
    assert (
        data(graphql(client, '{ apiKeys(search: "acme") { total } }', globex.secret))["apiKeys"]["total"] == 0
    )


def test_a_key_sees_and_makes_only_what_its_role_and_subtree_allow(client, make_key, demo):
    north = make_key(account=demo.north, role=Role.ADMIN_API, name="north caller")
    make_key(account=demo.south, name="south key", scopes=["api-keys:read"])
    make_key(account=demo.north, role=Role.ADVANCED_ADMIN, name="north advanced", scopes=["api-keys:read"])
    names = {
        i["name"]
        for i in data(graphql(client, "{ apiKeys { items { name } } }", north.secret))["apiKeys"]["items"]
    }
    assert names == {"north caller"}
    for target in ({"account": "Acme South"}, {"role": "ADVANCED_ADMIN"}):
        response = graphql(
            client,
            CREATE,
            north.secret,
            variables={"input": {"name": "x", "scopes": ["api-keys:read"], **target}},
        )
        assert_graphql_error(response, 200, "access_denied")


def test_filters_mean_what_they_mean_in_rest(client, api, make_key):
    caller = make_key(name="caller")
    make_key(name="ERP production", scopes=["api-keys:read"])
    gone = make_key(name="ERP old", scopes=["api-keys:read"])
    api("delete", f"/api/v1/org/api-keys/{gone.key.pk}", caller.secret)
    for search, status in (("erp", None), ("erp", "REVOKED"), (caller.key.client_id[:12], None)):
        args = f'search: "{search}"' + (f", status: {status}" if status else "")
        page = data(graphql(client, f"{{ apiKeys({args}) {{ total items {{ id }} }} }}", caller.secret))[
            "apiKeys"
        ]
        rest = api(
            "get",
            f"/api/v1/org/api-keys?search={search}" + (f"&status={status.lower()}" if status else ""),
            caller.secret,
        ).json()
        assert page["total"] == rest["total"] and [i["id"] for i in page["items"]] == [
            k["id"] for k in rest["data"]
        ]


def test_pages_by_cursor_like_rest_and_refuses_a_bad_cursor(client, api, make_key):
    caller = make_key(name="caller")
    for n in range(6):
        make_key(name=f"paged {n}", scopes=["api-keys:read"])
    query = "query($c: String) { apiKeys(first: 3, cursor: $c) { total items { id } next previous } }"
    seen, cursor = [], None
    while True:
        page = data(graphql(client, query, caller.secret, variables={"c": cursor}))["apiKeys"]
        assert page["total"] == 7 and (page["previous"] is None) == (cursor is None)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    rest = api("get", "/api/v1/org/api-keys", caller.secret).json()
    assert seen == [k["id"] for k in rest["data"]]
    for bad in ('cursor: "nope"', 'cursor: "x", offset: 2', "offset: 1000001"):
        response = graphql(client, f"{{ apiKeys({bad}) {{ total }} }}", caller.secret)
        assert_graphql_error(response, 200, "bad_user_input")


def test_listing_costs_the_same_queries_for_one_key_or_a_hundred(
    client, make_key, django_assert_max_num_queries, settings
):
    # The calling key is verified once and then trusted from the worker's cache: long enough here
    # that a slow machine cannot expire it between two counted calls (and count its look-up).
    settings.KEY_CACHE_TTL_SECONDS = 600
    caller = make_key()
    query = f"{{ apiKeys(first: 100) {{ total items {{ {KEY_FIELDS} }} }} }}"
    data(graphql(client, "{ currentKey { id } }", caller.secret))  # the key is verified (and cached) once
    with CaptureQueriesContext(connection) as one:
        assert data(graphql(client, query, caller.secret))["apiKeys"]["total"] == 1
    for n in range(99):
        make_key(name=f"bulk {n}", scopes=["api-keys:read"])
    with CaptureQueriesContext(connection) as hundred:
        assert len(data(graphql(client, query, caller.secret))["apiKeys"]["items"]) == 100
    assert len(hundred) == len(one), [q["sql"] for q in hundred]


# ---- mutations go through the services ----


def test_create_list_regenerate_with_grace_and_revoke(client, api, make_key):
    caller = make_key()
    created = data(
        graphql(
            client,
            CREATE,
            caller.secret,
            variables={"input": {"name": "ETL", "scopes": ["api-keys:read"], "expiresInDays": 30}},
        )
    )["createApiKey"]
    key_id, first_secret = created["apiKey"]["id"], created["clientSecret"]
    assert credentials.is_well_formed_secret(first_secret)
    assert api("get", "/api/v1/key", first_secret).status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.KEY_CREATED, key_id=key_id, actor_key_id=caller.key.pk
    ).exists()
    regenerated = data(
        graphql(
            client,
            "mutation($id: ID!) { regenerateApiKey(id: $id, gracePeriodSeconds: 3600) { clientSecret } }",
            caller.secret,
            variables={"id": key_id},
        )
    )["regenerateApiKey"]
    assert api("get", "/api/v1/key", first_secret).status_code == 200  # in its grace period
    assert api("get", "/api/v1/key", regenerated["clientSecret"]).status_code == 200
    revoked = data(
        graphql(
            client,
            "mutation($id: ID!) { revokeApiKey(id: $id) { status } }",
            caller.secret,
            variables={"id": key_id},
        )
    )["revokeApiKey"]
    assert revoked == {"status": "REVOKED"}
    assert api("get", "/api/v1/key", regenerated["clientSecret"]).status_code == 401
    assert api("get", "/api/v1/key", first_secret).status_code == 401


def test_verify_counts_as_a_use_of_the_verified_key(client, make_key):
    verifier = make_key(scopes=["api-keys:verify"])
    presented = make_key(name="presented", scopes=["api-keys:read"])
    query = """mutation($k: String!, $s: [String!]) {
      verifyApiKey(key: $k, requiredScopes: $s) { valid code apiKey { name } }
    }"""
    result = data(
        graphql(client, query, verifier.secret, variables={"k": presented.secret, "s": ["api-keys:read"]})
    )
    assert result["verifyApiKey"] == {"valid": True, "code": "VALID", "apiKey": {"name": "presented"}}
    result = data(
        graphql(client, query, verifier.secret, variables={"k": presented.secret, "s": ["api-keys:write"]})
    )
    assert result["verifyApiKey"]["code"] == "INSUFFICIENT_SCOPE"
    result = data(graphql(client, query, verifier.secret, variables={"k": "sk_live_nope"}))
    assert result["verifyApiKey"] == {"valid": False, "code": "UNAUTHORIZED", "apiKey": None}
    usage.buffer.flush(force_last_used=True)
    assert presented.key.usage_days.get().total == 2


# ---- a member's session ----


@pytest.mark.parametrize(
    ("role", "reads", "writes"),
    [
        (Role.ADVANCED_ADMIN, True, True),
        (Role.ADMIN_API, True, True),
        (Role.SUPPORT, True, False),
        (Role.ADMIN, False, False),
        (Role.VIEWER, False, False),
    ],
)
def test_a_session_has_the_members_own_role(login, make_key, role, reads, writes):
    make_key(name="existing", role=Role.SUPPORT, scopes=["api-keys:read"])
    session = login(ROLE_EMAILS[role])
    response = graphql(session, "{ apiKeys { total } }")
    if reads:
        assert data(response)["apiKeys"]["total"] == 1
    else:
        assert_graphql_error(response, 200, "access_denied")
    response = graphql(
        session, CREATE, variables={"input": {"name": f"by {role.label}", "scopes": ["api-keys:read"]}}
    )
    if writes:
        created = data(response)["createApiKey"]
        assert (
            created["apiKey"]["role"]
            == {Role.ADVANCED_ADMIN: "ADVANCED_ADMIN", Role.ADMIN_API: "ADMIN_API"}[role]
        )
        assert created["apiKey"]["account"] == "Acme Corp" and created["apiKey"]["application"] == "portal"
        assert ApiKey.objects.get(name=f"by {role.label}").created_by.email == ROLE_EMAILS[role]
    else:
        assert_graphql_error(response, 200, "access_denied")
        assert not ApiKey.objects.filter(name=f"by {role.label}").exists()


def test_an_admin_api_session_sees_no_key_above_its_role(login, make_key):
    make_key(name="advanced one", scopes=["api-keys:read"])
    make_key(name="admin api one", role=Role.ADMIN_API, scopes=["api-keys:read"])
    session = login("adminapi@acme.test")
    items = data(graphql(session, "{ apiKeys { items { name } } }"))["apiKeys"]["items"]
    assert [i["name"] for i in items] == ["admin api one"]


def test_a_session_post_needs_its_csrf_token(demo):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(demo.user("advanced@acme.test"))
    body = json.dumps({"query": "{ currentUser { email } }"})
    response = browser.post(GRAPHQL, data=body, content_type="application/json")
    assert_graphql_error(response, 403, "csrf_failed")
    page = browser.get(GRAPHQL)  # the explorer page sets the cookie and carries the token
    token = page.context["csrf_token"]
    response = browser.post(GRAPHQL, data=body, content_type="application/json", HTTP_X_CSRFTOKEN=str(token))
    assert data(response)["currentUser"]["email"] == "advanced@acme.test"


def test_a_session_request_gets_no_rate_limit_headers_and_no_cookie_for_a_key(client, login, make_key):
    issued = make_key()
    response = graphql(client, "{ currentKey { id } }", issued.secret)
    assert not response.cookies
    response = graphql(login("advanced@acme.test"), "{ currentUser { email } }")
    assert "RateLimit-Limit" not in response


# ---- the explorer and the schema ----


def test_the_explorer_is_served_from_our_own_static_files(client, login):
    html = login("advanced@acme.test").get(GRAPHQL).content.decode()
    assert "graphiql.min.js" in html and "react.production.min.js" in html
    assert (
        "//" not in html.replace("https://", "").split("<body")[0].replace("<!--", "")
        or "cdn" not in html.lower()
    )
    assert "unpkg" not in html and "jsdelivr" not in html and "cdn" not in html.lower()


def test_the_checked_in_schema_is_the_schema():
    path = Path(__file__).resolve().parents[2] / "docs" / "schema.graphql"
    assert path.read_text() == schema.as_str() + "\n", "run: python manage.py graphql_schema --write"


# ---- fuzzing: whatever the query and its variables, never a 500 or an internal error ----

SCHEMA_TEXT = schema.as_str()


@given(document=hypothesis_graphql.from_schema(SCHEMA_TEXT))
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_valid_operation_never_fails_on_our_side(client, make_key, document):
    caller = make_key(name=f"fuzz {uuid.uuid4().hex[:8]}")
    response = graphql(client, document, caller.secret)
    assert response.status_code in (200, 400), response.content
    assert "internal_error" not in error_codes(response), (document, response.content)


@given(
    variables=st.dictionaries(
        st.sampled_from(["first", "offset", "search", "status", "id", "input", "s"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=6,
        ),
        max_size=4,
    )
)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_variables_never_fail_on_our_side(client, make_key, variables):
    caller = make_key(name=f"fuzz {uuid.uuid4().hex[:8]}")
    query = """query($first: Int, $offset: Int, $search: String, $status: KeyStatus, $id: ID!) {
      apiKeys(first: $first, offset: $offset, search: $search, status: $status) { total items { id } }
      apiKey(id: $id) { id }
    }"""
    response = graphql(client, query, caller.secret, variables=variables)
    assert response.status_code in (200, 400), response.content
    assert "internal_error" not in error_codes(response), (variables, response.content)


def test_the_portal_applications_page_has_a_graphql_example_that_works(client, login, make_key):
    html = login("advanced@acme.test").get("/settings/applications/portal/").content.decode()
    assert 'id="graphql-example"' in html and "http://testserver/api/graphql" in html
    example = html.split("-d '")[1].split("'")[0]
    query = json.loads(example)["query"]
    client.logout()
    assert data(graphql(client, query, make_key().secret))["apiKeys"]["total"] == 1


# ---- every operation × callers of another tenant and of lesser roles ----

OPERATIONS = {
    "apiKeys": ("{ apiKeys { items { id } } }", {}),
    "apiKey": ("query($id: ID!) { apiKey(id: $id) { id } }", {"id": "{target}"}),
    "createApiKey": (
        CREATE,
        {"input": {"name": "intruder", "scopes": ["api-keys:read"], "account": "Acme Corp"}},
    ),
    "regenerateApiKey": (
        "mutation($id: ID!) { regenerateApiKey(id: $id) { clientSecret } }",
        {"id": "{target}"},
    ),
    "revokeApiKey": ("mutation($id: ID!) { revokeApiKey(id: $id) { id } }", {"id": "{target}"}),
    "disableApiKey": ("mutation($id: ID!) { disableApiKey(id: $id) { id } }", {"id": "{target}"}),
    "verifyApiKey": (
        "mutation($k: String!) { verifyApiKey(key: $k) { valid apiKey { id } } }",
        {"k": "{secret}"},
    ),
}
# caller → what each operation answers about an Acme key: a code, or "hidden" (answered without it)
MATRIX = {
    "globex key": dict.fromkeys(["apiKey", "regenerateApiKey", "revokeApiKey", "disableApiKey"], "not_found")
    | {"apiKeys": "hidden", "verifyApiKey": "hidden", "createApiKey": "bad_user_input"},
    "globex session": dict.fromkeys(
        ["apiKey", "regenerateApiKey", "revokeApiKey", "disableApiKey"], "not_found"
    )
    | {"apiKeys": "hidden", "verifyApiKey": "hidden", "createApiKey": "bad_user_input"},
    "acme support session": dict.fromkeys(
        ["createApiKey", "regenerateApiKey", "revokeApiKey", "disableApiKey", "verifyApiKey"], "access_denied"
    )
    | {"apiKeys": "seen", "apiKey": "seen"},
    "acme admin session": dict.fromkeys(OPERATIONS, "access_denied"),
    "acme viewer session": dict.fromkeys(OPERATIONS, "access_denied"),
    "acme read-only key": dict.fromkeys(
        ["createApiKey", "regenerateApiKey", "revokeApiKey", "disableApiKey", "verifyApiKey"], "access_denied"
    )
    | {"apiKeys": "seen", "apiKey": "seen"},
}


@pytest.mark.parametrize("caller", list(MATRIX))
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_no_operation_crosses_a_tenant_or_a_role(client, api, make_key, demo, caller, operation):
    target = make_key(name="acme target", role=Role.SUPPORT, scopes=["api-keys:read"])
    if caller.endswith("session"):
        email = {"globex": "advanced@globex.test", "acme support": "support@acme.test"}.get(
            caller.removesuffix(" session"), f"{caller.split()[1]}@acme.test"
        )
        client.force_login(demo.user(email))
        secret = None
    elif caller == "globex key":
        secret = make_key(organization=demo.globex, name="globex caller").secret
    else:
        secret = make_key(name="read only", scopes=["api-keys:read"]).secret
    query, variables = OPERATIONS[operation]
    variables = json.loads(
        json.dumps(variables).replace("{target}", str(target.key.pk)).replace("{secret}", target.secret)
    )
    response = graphql(client, query, secret, variables=variables)
    expected = MATRIX[caller][operation]
    if expected in ("seen", "hidden"):
        assert response.status_code == 200 and "errors" not in response.json(), response.content
        assert (str(target.key.pk) in response.content.decode()) is (expected == "seen")
    else:
        assert_graphql_error(response, 200, expected)
    assert target.secret not in response.content.decode()
    assert not ApiKey.objects.filter(name="intruder").exists()
    assert api("get", "/api/v1/key", target.secret).status_code == 200  # not revoked, not regenerated


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ apiKeys(search: "a\\u0000b") { total } }', None),
        ('{ apiKeys(search: "a\\u{0}b") { total } }', None),
        ("query($s: String) { apiKeys(search: $s) { total } }", {"s": "a\x00b"}),
        (CREATE, {"input": {"name": "n", "scopes": ["api-keys:read"], "account": "\x00"}}),
    ],
)
def test_a_nul_character_is_refused_before_it_reaches_the_database(client, make_key, query, variables):
    issued = make_key()
    response = graphql(client, query, issued.secret, variables=variables)
    assert_graphql_error(response, 400, "bad_request")


def test_disable_and_enable_mutations(client, api, make_key):
    caller = make_key(name="caller")
    target = make_key(name="target", scopes=["api-keys:read"])
    disable = "mutation($id: ID!) { disableApiKey(id: $id) { status } }"
    enable = "mutation($id: ID!) { enableApiKey(id: $id) { status } }"
    variables = {"id": str(target.key.pk)}
    assert data(graphql(client, disable, caller.secret, variables=variables)) == {
        "disableApiKey": {"status": "DISABLED"}
    }
    assert api("get", "/api/v1/key", target.secret).status_code == 401
    page = data(graphql(client, "{ apiKeys(status: DISABLED) { total } }", caller.secret))
    assert page["apiKeys"]["total"] == 1
    assert data(graphql(client, enable, caller.secret, variables=variables)) == {
        "enableApiKey": {"status": "ACTIVE"}
    }
    assert api("get", "/api/v1/key", target.secret).status_code == 200
    data(
        graphql(
            client, "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", caller.secret, variables=variables
        )
    )
    assert_graphql_error(graphql(client, enable, caller.secret, variables=variables), 200, "key_not_active")


def test_old_scope_names_work_in_graphql_too(client, make_key):
    caller = make_key()
    variables = {"input": {"name": "legacy", "scopes": ["read:api_keys"]}}
    created = data(graphql(client, CREATE + " ", caller.secret, variables=variables))["createApiKey"]
    key = data(graphql(client, f'{{ apiKey(id: "{created["apiKey"]["id"]}") {{ scopes }} }}', caller.secret))
    assert key["apiKey"]["scopes"] == ["api-keys:read"]


def test_outside_its_allowed_networks_a_key_gets_a_403(client, make_key):
    issued = make_key(allowed_ips=["192.0.2.0/24"])
    response = graphql(client, "{ currentKey { allowedIps } }", issued.secret, REMOTE_ADDR="198.51.100.3")
    assert_graphql_error(response, 403, "ip_not_allowed")
    inside = graphql(client, "{ currentKey { allowedIps } }", issued.secret, REMOTE_ADDR="192.0.2.3")
    assert data(inside)["currentKey"] == {"allowedIps": ["192.0.2.0/24"]}


def test_create_and_verify_with_allowed_networks(client, make_key):
    caller = make_key()
    created = data(
        graphql(
            client,
            """mutation($input: CreateApiKeyInput!) {
              createApiKey(input: $input) { apiKey { name allowedIps } clientSecret }
            }""",
            caller.secret,
            variables={"input": {"name": "edge", "scopes": ["api-keys:read"], "allowedIps": ["192.0.2.8"]}},
        )
    )["createApiKey"]
    assert created["apiKey"] == {"name": "edge", "allowedIps": ["192.0.2.8"]}
    refused = graphql(
        client,
        """mutation { createApiKey(input: {name: "x", scopes: ["api-keys:read"], allowedIps: ["nope"]}) {
          clientSecret } }""",
        caller.secret,
    )
    assert "“nope” is not an IP address" in refused.json()["errors"][0]["message"]
    assert refused.json()["errors"][0]["extensions"]["code"] == "bad_user_input"
    query = """mutation($k: String!, $ip: String) { verifyApiKey(key: $k, clientIp: $ip) { valid code } }"""
    for ip, code in (("192.0.2.8", "VALID"), ("192.0.2.9", "IP_NOT_ALLOWED"), (None, "IP_NOT_ALLOWED")):
        variables = {"k": created["clientSecret"], "ip": ip}
        result = data(graphql(client, query, caller.secret, variables=variables))
        assert result["verifyApiKey"]["code"] == code
