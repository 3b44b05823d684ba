"""Calling /api/graphql and reading its answers."""

from __future__ import annotations

import json

GRAPHQL = "/api/graphql"

# Every field of an ApiKey, to select in a query.
KEY_FIELDS = (
    "id name description clientId scopes application account role status createdAt lastUsedAt expiresAt "
    "allowedIps exposed exposure { reason sourceUrl at }"
)


def graphql(client, query: str, secret: str | None = None, *, variables: dict | None = None, **extra):
    """POST one operation, with a key in the Authorization header when ``secret`` is given."""
    if secret is not None:
        extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
    body = {"query": query} if variables is None else {"query": query, "variables": variables}
    return client.post(GRAPHQL, data=json.dumps(body), content_type="application/json", **extra)


def error_codes(response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


def assert_graphql_error(response, status: int, code: str) -> dict:
    """GraphQL's error shape, one error with this code, and the status monitoring should see."""
    assert response.status_code == status, response.content
    body = response.json()
    assert error_codes(response) == [code], body
    error = body["errors"][0]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.content.decode()
    return body


def fan_out(levels: int, leaf: str = "currentKey{name}") -> str:
    """The red team's document: each fragment spreads the next one twice, so expanding every spread
    asks for 2**levels copies of the leaf (about 900 bytes for 24 levels)."""
    chain = " ".join(f"fragment F{i} on Query{{...F{i + 1} ...F{i + 1}}}" for i in range(levels))
    return f"query{{...F0}} {chain} fragment F{levels} on Query{{{leaf}}}"
