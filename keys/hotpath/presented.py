"""Checking a key that someone presented to one of the caller's own services (REST
``POST /keys/verify``, GraphQL ``verifyApiKey``). It counts as a use of the presented key: its
usage, last-used time and rate limit, exactly as if it had called the API itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from accounts.actors import Actor
from keys import services
from keys.hotpath import usage
from keys.hotpath.ratelimit import limiter
from keys.hotpath.verification import VerifiedKey
from keys.scopes import canonical_scope


@dataclass(frozen=True)
class Verification:
    valid: bool
    code: str  # valid, unauthorized, insufficient_scope or rate_limited
    key: VerifiedKey | None


@sensitive_variables("presented")
def verify_presented(actor: Actor, presented: str, required_scopes: list[str]) -> Verification:
    verified = services.verify_key(presented=presented)
    # A key of another organization is as unknown as a key that does not exist.
    if verified is None or verified.organization_id != actor.organization_id:
        return Verification(False, "unauthorized", None)
    if not limiter().hit(str(verified.id), verified.rate_limit).allowed:
        usage.buffer.record(verified.id, 429, actor.ip)
        return Verification(False, "rate_limited", verified)
    if any(not verified.has_scope(canonical_scope(scope)) for scope in required_scopes):
        usage.buffer.record(verified.id, 403, actor.ip)
        return Verification(False, "insufficient_scope", verified)
    usage.buffer.record(verified.id, 200, actor.ip)
    return Verification(True, "valid", verified)
