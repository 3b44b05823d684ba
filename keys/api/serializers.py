"""The key object every API surface returns, written once: REST, GraphQL and the command line.

``{id, name, description, client_id, scopes, application, account, role, status, created_at, last_used_at,
expires_at, allowed_ips, exposed, exposure}``; never a secret or a digest. The domain does not import
this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from accounts.models import Role
from keys import selectors
from keys.authentication.verification import VerifiedKey
from keys.metering.ratelimit import Decision
from keys.models import ApiKey, RequestLogEntry
from keys.request_log import why
from keys.state import KeyStatus

# Each field that differs between a stored key and one that has just authenticated (which is
# active, or it would not have), written once for every surface.


def application_slug(key: ApiKey | VerifiedKey) -> str:
    return key.application_slug if isinstance(key, VerifiedKey) else key.application.slug


def account_name(key: ApiKey | VerifiedKey) -> str:
    return key.account_name if isinstance(key, VerifiedKey) else key.account.name


def role_name(key: ApiKey | VerifiedKey) -> str:
    return Role(key.role).api_name


def status_of(key: ApiKey | VerifiedKey) -> KeyStatus:
    """A stored key's status (``keys.state``); a key that has just authenticated is active (the
    hot path let it through by the same rule)."""
    return KeyStatus.ACTIVE if isinstance(key, VerifiedKey) else key.status


def exposure_of(key: ApiKey | VerifiedKey) -> dict[str, Any] | None:
    """Why the key is exposed (``ApiKey.exposure``). A key that has just authenticated carries only
    whether it is: its reason is read for an exposed one alone, so the hot path does no more."""
    if isinstance(key, ApiKey):
        return key.exposure
    if not key.exposed:
        return None
    stored = ApiKey.objects.only(*EXPOSURE_FIELDS).filter(pk=key.id).first()
    return stored.exposure if stored is not None else None


EXPOSURE_FIELDS = (
    "revoked_at",
    "exposed_at",
    "exposed_reason",
    "exposed_source_url",
    "previous_exposed_at",
    "previous_expires_at",
)


def key_out(key: ApiKey | VerifiedKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "description": key.description,
        "client_id": key.client_id,
        "scopes": list(key.scopes),
        "application": application_slug(key),
        "account": account_name(key),
        "role": role_name(key),
        "status": status_of(key),
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "expires_at": key.expires_at,
        "allowed_ips": list(key.allowed_ips),
        "exposed": key.exposed,
        "exposure": exposure_of(key),
    }


def usage_out(key: ApiKey, days: int) -> dict[str, Any]:
    """A key's usage by day, as REST's usage endpoint and GraphQL's ``apiKeyUsage`` answer it:
    ``{key_id, days, data: [{date, calls, errors, rate_limited}], totals: {calls, errors, rate_limited}}``."""
    data: list[dict[str, Any]] = [
        {"date": day.day, "calls": day.calls, "errors": day.errors, "rate_limited": day.rate_limited}
        for day in selectors.daily_usage(key, days)
    ]
    totals = {name: sum(entry[name] for entry in data) for name in ("calls", "errors", "rate_limited")}
    return {"key_id": str(key.id), "days": days, "data": data, "totals": totals}


def rate_limit_out(decision: Decision) -> dict[str, int]:
    return {"limit": decision.limit, "remaining": decision.remaining, "reset": decision.reset_seconds}


def timestamp(moment: datetime | None) -> str | None:
    """The one written form of a time in every API answer: UTC, milliseconds, ``Z``
    (``2026-03-01T12:00:00.000Z``), whatever the stored precision."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TimestampJSONEncoder(DjangoJSONEncoder):
    """Django's JSON encoder, with :func:`timestamp` for times (the command line's JSON)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return timestamp(o)
        return super().default(o)


# GET /api/v1/key is the health check every integration calls: rendering the same key object again
# for each request cost about 20 µs of a 200 µs request. A verified key is one object for as long as
# the verification cache keeps it (a second), so its rendering is kept beside it, by identity.
_RENDERED: dict[int, tuple[VerifiedKey, str]] = {}
_MAX_RENDERED = 10_000


def own_key_json(key: VerifiedKey, decision: Decision) -> bytes:
    """``GET /api/v1/key`` as JSON bytes, without a schema validation per request: the calling key
    and its rate limit (a test holds this body to the documented schema)."""
    entry = _RENDERED.get(id(key))
    if entry is None or entry[0] is not key:
        if len(_RENDERED) >= _MAX_RENDERED:
            _RENDERED.clear()
        body = key_out(key)
        for field in ("created_at", "last_used_at", "expires_at"):
            body[field] = timestamp(body[field])
        if body["exposure"] is not None:
            body["exposure"] = {**body["exposure"], "at": timestamp(body["exposure"]["at"])}
        entry = _RENDERED[id(key)] = (key, json.dumps(body)[:-1])  # without its closing brace
    limits = (
        f'{{"limit": {decision.limit}, "remaining": {decision.remaining}, "reset": {decision.reset_seconds}}}'
    )
    return f'{entry[1]}, "rate_limit": {limits}}}'.encode()


def request_out(entry: RequestLogEntry) -> dict[str, Any]:
    """One row of a key's request log, as REST answers it (GraphQL's fields are the same)."""
    return {
        "time": timestamp(entry.time),
        "method": entry.method,
        "route": entry.route,
        "path": entry.path,
        "status": entry.status,
        "error_code": entry.error_code or None,
        "reason": entry.reason or None,
        "why": why(entry) or None,
        "client_ip": entry.client_ip,
        "duration_ms": round(entry.duration_ms, 3),
        "request_id": entry.request_id,
        "surface": entry.surface,
        "operation": entry.operation or None,
        "operation_type": entry.operation_type or None,
    }
