"""Checking a key that someone presented to one of the caller's own services (REST
``POST /keys/verify``, GraphQL ``verifyApiKey``). It counts as a use of the presented key: its
usage, last-used time and rate limit, exactly as if it had called the API itself.

The answer carries the presented key's object only when the caller may see that key (the access
policy, as for every other read): a key of a sub-account verifying a key of its parent learns
whether it is valid, never its name, scopes or Client ID.

A key limited to allowed networks is valid only when the caller says where it was presented from
(``client_ip``) and that address is inside them: without the address the rule cannot be checked,
and a key's limits never loosen because it travelled through another service."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.views.decorators.debug import sensitive_variables

from accounts import permissions
from accounts.actors import Actor
from keys import services
from keys.authentication.verification import VerifiedKey
from keys.errors import ErrorCode, ServiceError
from keys.metering import usage
from keys.metering.ratelimit import limiter
from keys.networks import parse_network
from keys.scopes import canonical_scope


class VerificationCode(StrEnum):
    """Why a presented key is valid or not: three of the reasons are the error codes a request
    made with that key would answer with. The one vocabulary of REST (its OpenAPI enum) and
    GraphQL (its VerificationCode enum)."""

    VALID = "valid"
    UNAUTHORIZED = ErrorCode.UNAUTHORIZED.value
    IP_NOT_ALLOWED = ErrorCode.IP_NOT_ALLOWED.value
    INSUFFICIENT_SCOPE = "insufficient_scope"
    RATE_LIMITED = ErrorCode.RATE_LIMITED.value


@dataclass(frozen=True)
class Verification:
    valid: bool
    code: VerificationCode
    key: VerifiedKey | None


def _client_address(client_ip: str | None) -> str | None:
    if client_ip is None:
        return None
    try:
        network = parse_network(client_ip)
    except ServiceError:
        network = None
    if network is None or network.num_addresses != 1:
        raise ServiceError(
            ErrorCode.VALIDATION_ERROR,
            f"client_ip “{str(client_ip)[:64]}” is not an IP address.",
            field="client_ip",
        )
    return str(network.network_address)


@sensitive_variables("presented")
def verify_presented(
    actor: Actor, presented: str, required_scopes: list[str], client_ip: str | None = None
) -> Verification:
    client = _client_address(client_ip)
    verified = services.verify_key(presented=presented)
    # A key of another organization is as unknown as a key that does not exist.
    if verified is None or verified.organization_id != actor.organization_id:
        return Verification(False, VerificationCode.UNAUTHORIZED, None)
    seen_from = client or actor.ip
    shown = verified if _visible(actor, verified) else None
    if verified.networks and not verified.allows_ip(client):
        usage.buffer.record(verified.id, 403, seen_from)
        return Verification(False, VerificationCode.IP_NOT_ALLOWED, shown)
    if not limiter().hit(str(verified.id), verified.rate_limit).allowed:
        usage.buffer.record(verified.id, 429, seen_from)
        return Verification(False, VerificationCode.RATE_LIMITED, shown)
    if any(not verified.has_scope(canonical_scope(scope)) for scope in required_scopes):
        usage.buffer.record(verified.id, 403, seen_from)
        return Verification(False, VerificationCode.INSUFFICIENT_SCOPE, shown)
    usage.buffer.record(verified.id, 200, seen_from)
    return Verification(True, VerificationCode.VALID, shown)


def _visible(actor: Actor, key: VerifiedKey) -> bool:
    return permissions.may_view_key_at(
        actor, organization_id=key.organization_id, account_path=key.account_path, role=key.role
    )
