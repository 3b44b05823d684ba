"""The key object every API surface returns, written once: REST, GraphQL and the command line.

``{id, name, client_id, scopes, application, account, role, status, created_at, last_used_at,
expires_at}``; never a secret or a digest. The domain does not import this module.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from accounts.models import Role
from keys.hotpath.ratelimit import Decision
from keys.hotpath.verification import VerifiedKey
from keys.models import ApiKey, KeyStatus

ROLE_NAMES: dict[int, str] = {
    Role.ADVANCED_ADMIN: "advanced_admin",
    Role.ADMIN_API: "admin_api",
    Role.ADMIN: "admin",
    Role.SUPPORT: "support",
    Role.VIEWER: "viewer",
}


def key_out(key: ApiKey | VerifiedKey) -> dict[str, Any]:
    """A stored key, or one that has just authenticated (it is active, or it would not have)."""
    verified = isinstance(key, VerifiedKey)
    return {
        "id": str(key.id),
        "name": key.name,
        "client_id": key.client_id,
        "scopes": list(key.scopes),
        "application": key.application_slug if verified else key.application.slug,
        "account": key.account_name if verified else key.account.name,
        "role": ROLE_NAMES[key.role],
        "status": KeyStatus.ACTIVE if verified else key.status,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
    }


def rate_limit_out(decision: Decision) -> dict[str, int]:
    return {"limit": decision.limit, "remaining": decision.remaining, "reset": decision.reset_seconds}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def own_key_json(key: VerifiedKey, decision: Decision) -> bytes:
    """``GET /api/v1/key`` as JSON bytes, without a schema validation per request: the calling key
    and its rate limit (a test holds this body to the documented schema)."""
    body = key_out(key)
    for field in ("created_at", "last_used_at", "expires_at"):
        body[field] = _iso(body[field])
    body["rate_limit"] = rate_limit_out(decision)
    return json.dumps(body).encode()
