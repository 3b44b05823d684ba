"""Who may call which API operation: a key by its scopes, a signed-in member (GraphQL with a
session) by the same role rules as the portal. Every API surface asks here; a refusal is audited."""

from __future__ import annotations

from enum import Enum

from accounts import permissions
from accounts.actors import Actor
from keys.metering import requestlog
from keys.refusals import forbidden
from keys.scopes import PORTAL_READ, PORTAL_VERIFY, PORTAL_WRITE


class Operation(Enum):
    READ = PORTAL_READ  # list and read keys
    WRITE = PORTAL_WRITE  # create, regenerate, revoke
    VERIFY = PORTAL_VERIFY  # check a key presented to the caller's own service


def require(actor: Actor, operation: Operation) -> Actor:
    """The actor, or an audited ServiceError(ErrorCode.FORBIDDEN)."""
    scope = operation.value
    if actor.key is not None:
        if actor.key.has_scope(scope):
            return actor
        message = f"This key lacks the {scope} scope."
        requestlog.refusal.set((requestlog.MISSING_SCOPE, scope))  # the key's request log says why
    else:
        allowed = permissions.can_view_keys if operation is Operation.READ else permissions.can_manage_keys
        if allowed(actor):
            return actor
        message = (
            "Your role cannot see API keys."
            if operation is Operation.READ
            else "Your role cannot change or verify API keys."
        )
    raise forbidden(actor, f"API call needing {scope}", message)
