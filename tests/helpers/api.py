"""Reading the REST API's answers."""

from __future__ import annotations

# The fields of a key in every answer that describes one (a created or regenerated key adds "key").
KEY_FIELDS = {
    "id",
    "name",
    "description",
    "client_id",
    "scopes",
    "application",
    "account",
    "role",
    "status",
    "created_at",
    "last_used_at",
    "expires_at",
    "allowed_ips",
    "exposed",
    "exposure",
}


# The four ways a request may present a key, for an IssuedKey k.
HEADER_FORMS = [
    lambda k: {"HTTP_AUTHORIZATION": f"Bearer {k.secret}"},
    lambda k: {"HTTP_AUTHORIZATION": f"Bearer {k.key.client_id}:{k.secret}"},
    lambda k: {"HTTP_X_API_KEY": k.secret},
    lambda k: {"HTTP_X_API_KEY": f"{k.key.client_id}:{k.secret}"},
]


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def assert_error(response, status, code):
    """The one error body: {"error": {"code", "message"}}, and a Bearer challenge with every 401."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    return body
