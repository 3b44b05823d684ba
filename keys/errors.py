"""What the key services refuse with. Every HTTP surface turns these into its own error shape
(the REST body ``{"error": {"code", "message"}}``, a form error, a GraphQL error)."""

from __future__ import annotations

from typing import Any

from accounts.actors import Actor
from audit.services import refuse


class ServiceError(Exception):
    """A refusal with a stable code, a sentence for people, and the field it is about."""

    status = 400

    def __init__(self, code: str, message: str, *, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class KeyNotFound(ServiceError):
    """Unknown id, malformed id, or a key the actor may not see: one answer for all three."""

    def __init__(self, message: str = "No API key with that id.") -> None:
        super().__init__("not_found", message, status=404)


def forbidden(actor: Actor, what: str, message: str, *, key: Any = None, **details: Any) -> ServiceError:
    """403 "forbidden", audited as every refusal is (``audit.services.refuse``): ``raise forbidden(...)``."""
    error = ServiceError("forbidden", message, status=403)
    return refuse(error, actor=actor, what=what, key=key, details=details)
