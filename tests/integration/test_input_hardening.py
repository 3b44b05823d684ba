"""Crafted input through every door answers a clear 4xx (API) or a message beside an ignored filter
(portal), never a 500; an answer that carries a secret is never cached."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.test import Client

from accounts.models import Role, User
from keys import selectors
from keys.models import ApiKey
from tests.helpers.api import assert_error
from tests.helpers.graphql import assert_graphql_error, graphql
from tests.helpers.portal import field_error, form_data
from tests.helpers.services import set_policy

pytestmark = pytest.mark.django_db


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


# Cursors that decode and have the right length, but whose values fit no column: an id that is not
# a UUID, an id past any integer, a boolean, an impossible date.
CRAFTED_CURSORS = [
    _cursor(["p", "2026-01-01T00:00:00+00:00", "x"]),
    _cursor(["n", "2026-01-01T00:00:00+00:00", 99999999999999999999999]),
    _cursor(["n", "2026-01-01T00:00:00+00:00", True]),
    _cursor(["n", "2026-02-30T00:00:00+00:00", "7d6f1ad8-8a3e-4c1f-9e4e-2a0f4b1d7c11"]),
]


@pytest.fixture
def raising_client(_request_handler) -> Client:
    """A client that answers a server error as the server would (500), rather than raising it."""
    client = Client(raise_request_exception=False)
    client.handler = _request_handler
    return client


# ---- cursors and integer filters ----


@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
def test_a_crafted_rest_cursor_is_a_400(raising_client, make_key, cursor):
    caller = make_key(name="caller")
    response = raising_client.get(
        f"/api/v1/org/api-keys?cursor={cursor}", HTTP_AUTHORIZATION=f"Bearer {caller.secret}"
    )
    body = assert_error(response, 400, "validation_error")
    assert "cursor" in body["error"]["message"]


@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
def test_a_crafted_graphql_cursor_is_bad_user_input(raising_client, make_key, cursor):
    caller = make_key(name="caller")
    query = "query($c: String) { apiKeys(first: 3, cursor: $c) { total } }"
    assert_graphql_error(
        graphql(raising_client, query, caller.secret, variables={"c": cursor}), 200, "bad_user_input"
    )


@pytest.mark.parametrize("cursor", CRAFTED_CURSORS)
def test_a_crafted_audit_log_cursor_shows_the_newest_events_with_a_message(demo, raising_client, cursor):
    raising_client.force_login(User.objects.get(email="advanced@acme.test"))
    response = raising_client.get("/settings/audit-log/", {"cursor": cursor})
    assert response.status_code == 200
    assert "does not point into this log" in response.content.decode()


@pytest.mark.parametrize("value", ["99999999999999999999999", "-1", "1.5", "true"])
def test_an_integer_filter_that_fits_no_id_is_ignored_with_a_message(demo, raising_client, make_key, value):
    make_key(name="still listed")
    raising_client.force_login(User.objects.get(email="advanced@acme.test"))
    response = raising_client.get("/settings/api-keys/", {"seen_by": value})
    assert response.status_code == 200
    page = response.content.decode()
    assert "still listed" in page and "The seen_by filter was ignored" in page


def test_a_page_number_past_any_offset_of_a_list_too_long_to_count_shows_a_page(
    demo, raising_client, make_key, monkeypatch
):
    monkeypatch.setattr(selectors, "COUNT_CAP", 1)  # the count stops: the page number is not bounded by it
    make_key(name="listed")
    make_key(name="listed too")
    raising_client.force_login(User.objects.get(email="advanced@acme.test"))
    response = raising_client.get("/settings/api-keys/", {"page": "9" * 30})
    assert response.status_code == 200 and "listed" in response.content.decode()


# ---- answers that carry a secret ----


def _not_stored(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_rest_create_and_regenerate_answers_are_never_cached(api, make_key):
    caller = make_key(name="caller")
    created = api(
        "post", "/api/v1/org/api-keys", caller.secret, json={"name": "new", "scopes": ["api-keys:read"]}
    )
    assert created.status_code == 201 and "key" in created.json() and _not_stored(created)
    regenerated = api("post", f"/api/v1/org/api-keys/{created.json()['id']}/regenerate", caller.secret)
    assert regenerated.status_code == 200 and "key" in regenerated.json() and _not_stored(regenerated)


# ---- "Require allowed networks": a whole address family limits nothing ----


def _require_allowed_networks(demo) -> None:
    set_policy(demo, require_ip_allowlist=True)


@pytest.mark.parametrize("everywhere", ["0.0.0.0/0", "::/0"])
def test_the_portal_refuses_a_whole_address_family_under_the_policy(demo, login, everywhere):
    _require_allowed_networks(demo)
    client = login("advanced@acme.test")
    refused = client.post("/settings/api-keys/new/", form_data(demo, allowed_ips=f"192.0.2.1\n{everywhere}"))
    assert "spans every address" in field_error(refused, "allowed_ips")
    assert not ApiKey.objects.filter(name="ERP production").exists()


@pytest.mark.parametrize("everywhere", ["0.0.0.0/0", "::/0"])
def test_rest_refuses_a_whole_address_family_under_the_policy(demo, api, make_key, everywhere):
    # The caller itself may be used from anywhere (made before the policy), so that the child's
    # networks are inside its own and only the policy can refuse them.
    caller = make_key(name="caller", allowed_ips=["0.0.0.0/0", "::/0"])
    _require_allowed_networks(demo)
    body = {"name": "anywhere", "scopes": ["api-keys:read"], "allowed_ips": [everywhere]}
    refused = assert_error(
        api("post", "/api/v1/org/api-keys", caller.secret, json=body), 400, "validation_error"
    )
    assert everywhere in refused["error"]["message"] and "every address" in refused["error"]["message"]
    assert not ApiKey.objects.filter(name="anywhere").exists()


# ---- key names: nothing invisible, and a twin is the same name ----

REAL = "Production Dashboard"
TWINS = [
    ("Production Dashboard\u200b", "U+200B ZERO WIDTH SPACE at position 21"),
    ("\u202eProduction Dashboard", "U+202E RIGHT-TO-LEFT OVERRIDE at position 1"),
    ("Production\u00a0Dashboard", "already exists. Choose another name."),
    ("Pro\u2060duction", "U+2060 WORD JOINER at position 4"),
]


@pytest.mark.parametrize(("name", "says"), TWINS)
def test_the_portal_refuses_an_invisible_character_or_a_twin(demo, login, make_key, name, says):
    make_key(name=REAL)
    client = login("advanced@acme.test")
    refused = client.post("/settings/api-keys/new/", form_data(demo, name=name))
    assert says in field_error(refused, "name")
    assert ApiKey.objects.filter(name__startswith="Pro").count() == 1


@pytest.mark.parametrize(
    ("name", "code", "says"),
    [
        ("Production Dashboard\u200b", "validation_error", "U+200B ZERO WIDTH SPACE"),
        ("\u202eName", "validation_error", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("Pro\u2060duction", "validation_error", "U+2060 WORD JOINER"),
        ("production\u00a0dashboard", "name_taken", "already exists"),
        ("\uff30roduction  Dashboard", "name_taken", "already exists"),
    ],
)
def test_rest_and_graphql_refuse_an_invisible_character_or_a_twin(api, client, make_key, name, code, says):
    caller = make_key(name=REAL)
    body = {"name": name, "scopes": ["api-keys:read"]}
    refused = assert_error(api("post", "/api/v1/org/api-keys", caller.secret, json=body), 400, code)
    assert says in refused["error"]["message"]
    mutation = (
        "mutation($n: String!) {"
        ' createApiKey(input: {name: $n, scopes: ["api-keys:read"]}) { clientSecret } }'
    )
    answer = assert_graphql_error(
        graphql(client, mutation, caller.secret, variables={"n": name}),
        200,
        "bad_user_input" if code == "validation_error" else code,
    )
    assert says in answer["errors"][0]["message"]
    assert ApiKey.objects.count() == 1


# ---- readable 400s, and no boolean for an integer ----


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        (
            "/api/v1/keys/verify",
            {"key": "x", "client_ip": "nope"},
            "client_ip: must be an IPv4 or IPv6 address",
        ),
        (
            "/api/v1/keys/verify",
            {"key": "x", "required_scopes": ["no"]},
            "required_scopes[0]: must be a scope",
        ),
        ("/api/v1/keys/verify", {"key": "x", "extra": 1}, "extra: is not a field of this request"),
        (
            "/api/v1/org/api-keys",
            {"name": "", "scopes": []},
            "name: must not be empty; scopes: must not be empty",
        ),
        (
            "/api/v1/org/api-keys",
            {"name": "n", "scopes": ["x"], "role": "boss"},
            "role: must be one of 'advanced_admin'",
        ),
    ],
)
def test_rest_400s_say_what_is_wrong_without_pydantic_internals(api, make_key, path, body, says):
    caller = make_key(name="caller", scopes=["api-keys:write", "api-keys:verify"])
    message = assert_error(api("post", path, caller.secret, json=body), 400, "validation_error")["error"][
        "message"
    ]
    assert says in message
    assert not re.search(r"lax|strict|function-|\[[a-z]|Input should", message), message


@pytest.mark.parametrize("value", [True, False, 1.5, "30"])
def test_rest_refuses_a_boolean_a_fraction_or_a_string_for_an_integer(api, make_key, value):
    caller = make_key(name="caller")
    body = {"name": "bool days", "scopes": ["api-keys:read"], "expires_in_days": value}
    refused = assert_error(
        api("post", "/api/v1/org/api-keys", caller.secret, json=body), 400, "validation_error"
    )
    assert refused["error"]["message"].startswith("expires_in_days: must be a whole number")
    key = make_key(name="target").key
    grace = {"grace_period_seconds": value}
    refused = api("post", f"/api/v1/org/api-keys/{key.pk}/regenerate", caller.secret, json=grace)
    assert (
        "grace_period_seconds: must be a whole number"
        in assert_error(refused, 400, "validation_error")["error"]["message"]
    )
    assert not ApiKey.objects.filter(name="bool days").exists()
    assert ApiKey.objects.get(pk=key.pk).secret_digest == key.secret_digest


def test_rest_takes_an_integral_number_as_json_schema_does(api, make_key):
    caller = make_key(name="caller")
    body = {"name": "thirty", "scopes": ["api-keys:read"], "expires_in_days": 30.0}
    assert api("post", "/api/v1/org/api-keys", caller.secret, json=body).status_code == 201
    key = ApiKey.objects.get(name="thirty")
    regenerated = api(
        "post",
        f"/api/v1/org/api-keys/{key.pk}/regenerate",
        caller.secret,
        json={"grace_period_seconds": 60.0},
    )
    assert regenerated.status_code == 200


def test_rest_queries_refuse_a_boolean_for_an_integer(api, make_key):
    caller = make_key(name="caller")
    refused = assert_error(
        api("get", "/api/v1/org/api-keys?limit=true", caller.secret), 400, "validation_error"
    )
    assert refused["error"]["message"] == "limit: must be a whole number"


def test_graphql_refuses_a_boolean_for_an_integer(client, make_key):
    caller = make_key(name="caller")
    create = 'createApiKey(input: {name: "b", scopes: ["api-keys:read"], expiresInDays: %s}) { clientSecret }'
    inline = graphql(client, "mutation { %s }" % (create % "true"), caller.secret)
    assert_graphql_error(inline, 400, "graphql_validation_failed")
    variables = graphql(
        client, "mutation($d: Int) { %s }" % (create % "$d"), caller.secret, variables={"d": True}
    )
    assert_graphql_error(variables, 400, "graphql_validation_failed")
    assert not ApiKey.objects.filter(name="b").exists()


def test_the_portal_refuses_a_boolean_for_an_integer(demo, login):
    client = login("advanced@acme.test")
    refused = client.post("/settings/api-keys/new/", form_data(demo, expiry="custom", expiry_days="true"))
    assert "whole number" in field_error(refused, "expiry_days")
    assert not ApiKey.objects.filter(name="ERP production").exists()


# ---- verify answers with a key's object only where the caller may see it ----

VERIFY_GRAPHQL = "mutation($k: String!) { verifyApiKey(key: $k) { valid code apiKey { id name } } }"


def test_a_sub_account_key_verifying_a_root_key_learns_only_the_result(api, client, make_key, demo):
    root = make_key(name="Root secret integration")
    north = make_key(name="north verifier", account=demo.north, scopes=["api-keys:verify"])
    rest = api("post", "/api/v1/keys/verify", north.secret, json={"key": root.secret})
    assert rest.status_code == 200 and rest.json() == {"valid": True, "code": "valid", "key": None}
    assert "Root secret integration" not in rest.content.decode()
    answer = graphql(client, VERIFY_GRAPHQL, north.secret, variables={"k": root.secret}).json()
    assert answer["data"]["verifyApiKey"] == {"valid": True, "code": "VALID", "apiKey": None}
    # Refused verifications say no more about it either.
    scoped = api(
        "post", "/api/v1/keys/verify", north.secret, json={"key": root.secret, "required_scopes": ["x:read"]}
    )
    assert scoped.json() == {"valid": False, "code": "insufficient_scope", "key": None}


def test_a_key_verifying_a_key_it_may_see_gets_its_object(api, client, make_key, demo):
    in_north = make_key(name="North integration", account=demo.north)
    north = make_key(name="north verifier", account=demo.north, scopes=["api-keys:verify"])
    root = make_key(name="root verifier", scopes=["api-keys:verify"])
    for verifier in (north, root):
        rest = api("post", "/api/v1/keys/verify", verifier.secret, json={"key": in_north.secret}).json()
        assert rest["valid"] and rest["key"]["name"] == "North integration"
        answer = graphql(client, VERIFY_GRAPHQL, verifier.secret, variables={"k": in_north.secret}).json()
        assert answer["data"]["verifyApiKey"]["apiKey"]["name"] == "North integration"


def test_a_lower_role_key_verifying_a_higher_role_key_learns_only_the_result(api, make_key, demo):
    advanced = make_key(name="Advanced integration", role=Role.ADVANCED_ADMIN)
    lower = make_key(name="lower verifier", role=Role.ADMIN_API, scopes=["api-keys:verify"])
    answer = api("post", "/api/v1/keys/verify", lower.secret, json={"key": advanced.secret})
    assert answer.status_code == 200, answer.content
    assert answer.json()["key"] is None and answer.json()["valid"]


def test_an_ignored_filter_is_said_without_quoting_its_value(demo, login):
    page = (
        login("advanced@acme.test").get("/settings/api-keys/", {"status": "nonsense-status"}).content.decode()
    )
    message = re.search(r'<p class="message[^"]*">([^<]*)</p>', page).group(1)
    assert "The status filter was ignored" in message and "nonsense-status" not in message
