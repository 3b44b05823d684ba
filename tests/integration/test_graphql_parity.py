"""GraphQL speaks REST's vocabulary: the same enums (GraphQL's UPPER_CASE names of REST's values), the
same time format, the same usage answer and scope catalogue; and partial data: one field that fails
leaves null and an error at its path, while the rest of the answer stands."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from accounts.models import KeyRole, Role
from keys.api.graphql.view import schema
from keys.authentication.presented import VerificationCode
from keys.errors import ErrorCode
from keys.metering import usage
from keys.request_log import StatusClass, Surface
from keys.state import KeyStatus
from tests.helpers.graphql import KEY_FIELDS, error_codes, graphql

pytestmark = pytest.mark.django_db

REST_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def data(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


# ---- one vocabulary ----


@pytest.mark.parametrize(
    ("graphql_name", "python_enum", "rest_name"),
    [
        ("KeyStatus", KeyStatus, "KeyStatus"),
        ("KeyRole", KeyRole, "KeyRole"),
        ("VerificationCode", VerificationCode, "VerificationCode"),
        ("Surface", Surface, "Surface"),
        ("RequestErrorCode", ErrorCode, "RequestErrorCode"),
    ],
)
def test_every_rest_enum_is_the_same_graphql_enum(client, graphql_name, python_enum, rest_name):
    """GraphQL's values are the UPPER_CASE names of the very Python enum whose values REST's
    OpenAPI document lists."""
    rest = client.get("/api/v1/openapi.json").json()["components"]["schemas"][rest_name]["enum"]
    served = schema._schema.type_map[graphql_name]
    assert list(served.values) == [member.name for member in python_enum]
    assert [member.value for member in python_enum] == rest
    assert list(served.values) == [value.upper() for value in rest]
    assert served.description


def test_a_status_class_is_named_in_graphql_and_valued_as_in_rest(client):
    """2xx cannot be a GraphQL name (a name starts with a letter): GraphQL names the members, REST
    lists their values, and both come from the one Python enum."""
    rest = client.get("/api/v1/openapi.json").json()["components"]["schemas"]["StatusClass"]["enum"]
    served = schema._schema.type_map["StatusClass"]
    assert list(served.values) == [member.name for member in StatusClass]
    assert rest == [member.value for member in StatusClass] == ["2xx", "3xx", "4xx", "5xx"]


def test_a_key_reads_the_same_over_rest_and_graphql(client, api, make_key):
    caller = make_key(name="reader", expires_in_days=30)
    caller.key.last_used_at = timezone.now()
    caller.key.save(update_fields=["last_used_at"])
    rest = api("get", f"/api/v1/org/api-keys/{caller.key.pk}", caller.secret).json()
    query = f'{{ apiKey(id: "{caller.key.pk}") {{ {KEY_FIELDS} }} }}'
    key = data(graphql(client, query, caller.secret))["apiKey"]
    for field, value in rest.items():
        if field in ("role", "status"):
            assert key[camel(field)] == value.upper(), field
        else:
            assert key[camel(field)] == value, field
    for field in ("createdAt", "lastUsedAt", "expiresAt"):
        assert REST_TIME.match(key[field]), key[field]


def test_a_datetime_variable_reads_rests_format_and_an_offset():
    scalar = schema._schema.type_map["DateTime"]
    assert scalar.parse_value("2026-03-01T12:00:00.000Z").isoformat() == "2026-03-01T12:00:00+00:00"
    assert scalar.parse_value("2026-03-01T13:00:00+01:00").isoformat() == "2026-03-01T13:00:00+01:00"
    assert scalar.serialize(scalar.parse_value("2026-03-01T13:00:00.123456+01:00")) == (
        "2026-03-01T12:00:00.123Z"
    )


def test_a_role_and_a_verification_code_are_enums_in_and_out(client, make_key):
    caller = make_key(scopes=["api-keys:read", "api-keys:write", "api-keys:verify"])
    created = data(
        graphql(
            client,
            "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) "
            "{ apiKey { role } clientSecret } }",
            caller.secret,
            variables={"input": {"name": "support key", "scopes": ["api-keys:read"], "role": "SUPPORT"}},
        )
    )["createApiKey"]
    assert created["apiKey"]["role"] == "SUPPORT"
    verified = data(
        graphql(
            client,
            'mutation($k: String!) { verifyApiKey(key: $k, requiredScopes: ["api-keys:write"]) { code } }',
            caller.secret,
            variables={"k": created["clientSecret"]},
        )
    )
    assert verified == {"verifyApiKey": {"code": "INSUFFICIENT_SCOPE"}}


def test_scopes_have_resource_and_action_as_in_rest(client, api, make_key):
    caller = make_key()
    rest = api("get", "/api/v1/scopes", caller.secret).json()["scopes"]
    served = data(graphql(client, "{ scopes { name resource action description } }", caller.secret))
    assert served["scopes"] == rest


def test_api_key_usage_is_the_rest_usage_answer(client, api, make_key):
    caller = make_key()
    usage.buffer.clear()
    api("get", "/api/v1/key", caller.secret)
    api("get", "/api/v1/org/api-keys/not-a-key", caller.secret)  # a 404: an error of the key's
    usage.buffer.flush(force_last_used=True)
    for days in (None, 7):
        suffix = "" if days is None else f"?days={days}"
        rest = api("get", f"/api/v1/org/api-keys/{caller.key.pk}/usage{suffix}", caller.secret).json()
        argument = "" if days is None else f", days: {days}"
        query = (
            f'{{ apiKeyUsage(id: "{caller.key.pk}"{argument}) '
            "{ keyId days data { date calls errors rateLimited } totals { calls errors rateLimited } } }"
        )
        served = data(graphql(client, query, caller.secret))["apiKeyUsage"]
        assert served == {
            "keyId": rest["key_id"],
            "days": rest["days"],
            "data": [{camel(k): v for k, v in day.items()} for day in rest["data"]],
            "totals": {camel(k): v for k, v in rest["totals"].items()},
        }
    assert served["totals"]["calls"] >= 2 and served["totals"]["errors"] >= 1


@pytest.mark.parametrize("days", [0, 91])
def test_api_key_usage_refuses_a_day_count_out_of_range(client, make_key, days):
    caller = make_key()
    query = f'{{ apiKeyUsage(id: "{caller.key.pk}", days: {days}) {{ days }} }}'
    response = graphql(client, query, caller.secret)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"apiKeyUsage": None}
    assert error_codes(response) == ["bad_user_input"] and body["errors"][0]["path"] == ["apiKeyUsage"]


def test_api_key_usage_of_an_unseen_key_is_not_found(client, make_key, demo):
    caller = make_key()
    foreign = make_key(organization=demo.globex)
    response = graphql(client, f'{{ apiKeyUsage(id: "{foreign.key.pk}") {{ days }} }}', caller.secret)
    assert response.json()["data"] == {"apiKeyUsage": None} and error_codes(response) == ["not_found"]


# ---- partial data ----


def test_one_not_found_leaves_the_rest_of_the_answer(client, make_key):
    caller = make_key(name="caller")
    response = graphql(client, '{ currentKey { name } apiKey(id: "nope") { id } }', caller.secret)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"currentKey": {"name": "caller"}, "apiKey": None}
    [error] = body["errors"]
    assert error["path"] == ["apiKey"] and error["extensions"]["code"] == "not_found"


def test_each_aliased_field_fails_on_its_own(client, make_key):
    caller = make_key(name="caller")
    query = (
        f'{{ mine: apiKey(id: "{caller.key.pk}") {{ name }} gone: apiKey(id: "nope") {{ name }} '
        "me: currentUser { email } scopes { name } }"
    )
    body = graphql(client, query, caller.secret).json()
    assert body["data"]["mine"] == {"name": "caller"} and body["data"]["scopes"]
    assert body["data"]["gone"] is None and body["data"]["me"] is None
    assert {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]} == {
        ("gone",): "not_found",
        ("me",): "unsupported_with_api_key",
    }


def test_a_failing_nested_field_is_null_at_its_path(client, make_key, monkeypatch, caplog):
    caller = make_key(name="caller")

    def broken(key):
        raise RuntimeError("account table unreadable")

    monkeypatch.setattr("keys.api.serializers.account_name", broken)
    body = graphql(client, "{ currentKey { name account application } }", caller.secret).json()
    assert body["data"] == {"currentKey": {"name": "caller", "account": None, "application": "portal"}}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["currentKey", "account"], "internal_error")
    ]
    assert "account table unreadable" not in str(body)


def test_roots_and_fields_that_can_fail_on_their_own_are_nullable():
    query = schema._schema.query_type
    mutation = schema._schema.mutation_type
    for root in (query, mutation):
        for name, field in root.fields.items():
            assert not str(field.type).endswith("!"), name
    key = schema._schema.type_map["ApiKey"]
    assert not str(key.fields["application"].type).endswith("!")
    assert not str(key.fields["account"].type).endswith("!")
    assert str(key.fields["role"].type) == "KeyRole!"


def test_a_role_value_is_one_of_the_roles():
    assert {Role.from_name(member.value) for member in KeyRole} == set(Role)
