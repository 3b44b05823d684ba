"""The OpenAPI document as client generators read it: named enums and bodies, no stray schema, every
status an operation can answer with its headers, UUID ids, the served address, and one form of a
time in every answer."""

from __future__ import annotations

import json
import re

import pytest

from keys.errors import ErrorCode
from tests.integration.test_rest import TIMESTAMP

pytestmark = pytest.mark.django_db

ENUMS = {
    "ErrorCode": [code.value for code in ErrorCode if code.rest],
    "KeyRole": ["advanced_admin", "admin_api", "admin", "support", "viewer"],
    "KeyStatus": ["active", "disabled", "expired", "revoked"],
    "VerificationCode": ["valid", "unauthorized", "ip_not_allowed", "insufficient_scope", "rate_limited"],
    "Label": ["true_positive", "false_positive"],
    "RequestErrorCode": [code.value for code in ErrorCode],
    "StatusClass": ["2xx", "3xx", "4xx", "5xx"],
    "Surface": ["rest", "graphql"],
}
#: The one operation called without a key (a partner signs its body instead): it neither refuses a
#: scope (403) nor looks a key up by id (404).
UNKEYED = ("/api/v1/secret-scanning/github",)


@pytest.fixture
def spec(client) -> dict:
    return client.get("/api/v1/openapi.json", HTTP_HOST="127.0.0.1:8000").json()


def operations(spec: dict):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_each_enum_is_one_named_component_and_nowhere_inline(spec):
    schemas = spec["components"]["schemas"]
    for name, values in ENUMS.items():
        assert schemas[name]["enum"] == values
    outside = json.dumps({**spec, "components": {**spec["components"], "schemas": {}}}) + json.dumps(
        {name: schema for name, schema in schemas.items() if name not in ENUMS}
    )
    assert '"enum"' not in outside
    key = schemas["KeyOut"]["properties"]
    assert key["role"] == {"$ref": "#/components/schemas/KeyRole"}
    assert key["status"] == {"$ref": "#/components/schemas/KeyStatus"}
    assert schemas["VerifyOut"]["properties"]["code"] == {"$ref": "#/components/schemas/VerificationCode"}


def test_the_request_log_filters_list_their_values(spec):
    """A client (or a fuzzer) reads the values a filter takes from the document: a value outside them
    is refused as a validation error, never one the document calls valid."""
    operation = spec["paths"]["/api/v1/org/api-keys/{key_id}/requests"]["get"]
    parameters = {parameter["name"]: parameter["schema"] for parameter in operation["parameters"]}
    for name, enum in (("status", "StatusClass"), ("code", "RequestErrorCode"), ("surface", "Surface")):
        assert parameters[name]["anyOf"] == [{"$ref": f"#/components/schemas/{enum}"}, {"type": "null"}]
    for name in ("since", "until"):
        assert {"type": "string", "format": "date-time"} in parameters[name]["anyOf"]
    row = spec["components"]["schemas"]["RequestOut"]["properties"]
    assert row["surface"] == {"$ref": "#/components/schemas/Surface"}


def test_every_error_code_is_documented(spec):
    """ErrorDetail.code is the ErrorCode enum, for generated clients to switch on: every code REST
    answers with, each described there, and under every answer of its status."""
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorDetail"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    rest = [code for code in ErrorCode if code.rest]
    assert {"validation_error", "exceeds_parent_key", "key_not_active", "error"} <= set(
        schemas["ErrorCode"]["enum"]
    )
    for code in rest:
        assert (
            f"- `{code}` ({code.status or 'any other status'}): {code.description}"
            in (schemas["ErrorCode"]["description"])
        )
    answered = set()
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            for code in rest:
                if str(code.status) == status:
                    assert f"`{code}`: {code.description}" in response["description"], (method, path, code)
                    answered.add(code)
    # Not an answer any operation lists: a wrong method, our bug, a status no other code names.
    assert set(rest) - answered == {ErrorCode.METHOD_NOT_ALLOWED, ErrorCode.INTERNAL_ERROR, ErrorCode.ERROR}


def test_the_regenerate_body_is_a_named_optional_schema(spec):
    body = spec["paths"]["/api/v1/org/api-keys/{key_id}/regenerate"]["post"]["requestBody"]
    assert body["required"] is False
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RegenerateKeyIn"}
    grace = spec["components"]["schemas"]["RegenerateKeyIn"]["properties"]["grace_period_seconds"]
    assert (grace["minimum"], grace["maximum"], grace["default"]) == (0, 604800, 0)


def test_every_component_schema_is_referenced(spec):
    text = json.dumps(spec["paths"]) + json.dumps(spec["components"]["schemas"])
    referenced = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert set(spec["components"]["schemas"]) == referenced
    assert "ListQuery" not in referenced and "UsageQuery" not in referenced


def test_every_operation_documents_its_errors_and_headers(spec):
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        expected = {"400", "401", "429", "503"} | (set() if path in UNKEYED else {"403", "404"})
        assert expected <= set(responses), (method, path)
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
        for status, response in responses.items():
            headers = set(response["headers"])
            if status == "401":
                assert headers == {"WWW-Authenticate"}
                continue
            assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= headers, (path, status)
            assert ("Retry-After" in headers) == (status in ("429", "503")), (path, status)
            if status.startswith("4") or status.startswith("5"):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"
                }
                assert "`" in response["description"]  # names the error codes
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"):
        assert spec["components"]["headers"][name]["schema"]["type"] == "integer"


def test_ids_are_uuids(spec):
    schemas = spec["components"]["schemas"]
    assert schemas["KeyOut"]["properties"]["id"]["format"] == "uuid"
    assert schemas["KeyUsageOut"]["properties"]["key_id"]["format"] == "uuid"
    for _, path, operation in operations(spec):
        for parameter in operation.get("parameters", ()):
            if parameter["in"] == "path":
                assert parameter["schema"]["format"] == "uuid", path


def test_the_server_is_the_served_address(client, settings):
    served = client.get("/api/v1/openapi.json", HTTP_HOST="127.0.0.1:8000").json()
    assert served["servers"] == [{"url": "http://127.0.0.1:8000", "description": "This portal"}]
    settings.PORTAL_BASE_URL = "https://keys.example.com/"
    assert client.get("/api/v1/openapi.json").json()["servers"][0]["url"] == "https://keys.example.com"


def test_the_tags_are_described(spec):
    assert {tag["name"]: bool(tag["description"]) for tag in spec["tags"]} == {
        "api-keys": True,
        "current-key": True,
        "verification": True,
        "secret-scanning": True,
    }


def test_one_timestamp_format_in_every_answer(api, make_key):
    caller = make_key(expires_in_days=30)
    created = api(
        "post",
        "/api/v1/org/api-keys",
        caller.secret,
        json={"name": "timed", "scopes": ["api-keys:read"], "expires_in_days": 5},
    ).json()
    key_id = created["id"]
    answers = [
        created,
        api("get", "/api/v1/key", caller.secret).json(),
        api("get", f"/api/v1/org/api-keys/{key_id}", caller.secret).json(),
        api("get", "/api/v1/org/api-keys", caller.secret).json()["data"][0],
        api("post", "/api/v1/keys/verify", caller.secret, json={"key": created["key"]}).json()["key"],
        api("post", f"/api/v1/org/api-keys/{key_id}/regenerate", caller.secret, json={}).json(),
        api("post", f"/api/v1/org/api-keys/{key_id}/disable", caller.secret).json(),
    ]
    stamps = [a[field] for a in answers for field in ("created_at", "expires_at", "last_used_at") if a[field]]
    assert len(stamps) >= 14
    assert all(TIMESTAMP.fullmatch(stamp) for stamp in stamps), stamps
