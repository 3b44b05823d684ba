"""What the key services refuse with. Every HTTP surface turns these into its own error shape
(the REST body ``{"error": {"code", "message"}}``, a form error, a GraphQL error)."""

from __future__ import annotations


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
