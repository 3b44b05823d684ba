"""What the key services refuse with, and every error code the APIs answer with: one enum.

Every HTTP surface turns a refusal into its own error shape (the REST body ``{"error": {"code",
"message"}}``, a form error, a GraphQL error with ``extensions.code``); each code carries what
those surfaces need to say it: its HTTP status, its name in GraphQL and its sentence in the
OpenAPI document. No other module spells a code (``tests/unit/test_error_codes.py``).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """A stable code clients switch on. ``status`` is its HTTP status (REST's; a GraphQL field
    error answers 200, as GraphQL does); ``graphql`` its ``extensions.code`` in GraphQL, where
    GraphQL clients know another name for it; ``description`` what the OpenAPI document (or, for
    the codes only GraphQL sends, the README's table) says of it; ``rest`` whether REST answers it.
    """

    status: int | None
    description: str
    graphql: str
    rest: bool

    def __new__(
        cls, value: str, status: int | None, description: str, graphql: str | None = None, rest: bool = True
    ) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.description = description
        member.graphql = graphql or value
        member.rest = rest
        return member

    # REST and GraphQL
    VALIDATION_ERROR = ("validation_error", 400, "a field or parameter, or the JSON", "bad_user_input")
    INVALID_SCOPE = ("invalid_scope", 400, "a scope the application does not have, or above the key's role")
    NAME_TAKEN = ("name_taken", 400, "a live key of the organization has this name")
    UNAUTHORIZED = (
        "unauthorized",
        401,
        "no key, or not a valid one (the message does not say why)",
        "unauthenticated",
    )
    FORBIDDEN = ("forbidden", 403, "the key lacks the scope or asks above its role", "access_denied")
    EXCEEDS_PARENT_KEY = ("exceeds_parent_key", 403, "a key asks for a key wider than itself")
    KEY_LIMIT_REACHED = ("key_limit_reached", 403, "the organization has as many keys as its plan allows")
    IP_NOT_ALLOWED = ("ip_not_allowed", 403, "outside the key's allowed networks")
    NOT_FOUND = ("not_found", 404, "unknown or malformed id, or a key outside the caller's reach")
    METHOD_NOT_ALLOWED = (
        "method_not_allowed",
        405,
        "a method the address does not answer (`Allow` lists those it does)",
    )
    KEY_NOT_ACTIVE = ("key_not_active", 409, "the key's status does not allow this")
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413, "the body is over 1 MiB")
    RATE_LIMITED = (
        "rate_limited",
        429,
        "over the key's per-minute limit: retry after `Retry-After` seconds",
    )
    INTERNAL_ERROR = ("internal_error", 500, "our bug: logged with its traceback, never shown")
    SERVICE_UNAVAILABLE = (
        "service_unavailable",
        503,
        "the database does not answer: retry after `Retry-After` seconds",
    )
    ERROR = ("error", None, "a refusal that no other code names")

    # GraphQL only
    BAD_REQUEST = ("bad_request", 400, "the body is not one JSON object with a query", None, False)
    BATCHING_NOT_SUPPORTED = ("batching_not_supported", 400, "a JSON array (a batch)", None, False)
    GRAPHQL_PARSE_FAILED = ("graphql_parse_failed", 400, "a malformed query", None, False)
    GRAPHQL_VALIDATION_FAILED = (
        "graphql_validation_failed",
        400,
        "an unknown field, or variables that do not fit the query",
        None,
        False,
    )
    QUERY_TOO_COMPLEX = ("query_too_complex", 400, "over a limit of the query's size or cost", None, False)
    CSRF_FAILED = ("csrf_failed", 403, "a session request without its CSRF token", None, False)
    UNSUPPORTED_WITH_API_KEY = ("unsupported_with_api_key", 200, "currentUser with a key", None, False)
    UNSUPPORTED_WITH_SESSION = ("unsupported_with_session", 200, "currentKey with a session", None, False)

    @classmethod
    def for_status(cls, status: int) -> ErrorCode:
        """What an error answer that no code of ours named is called: one Django or django-ninja
        wrote (a wrong method, a body too large, a CSRF refusal), by its status."""
        return _BY_STATUS.get(status) or (cls.INTERNAL_ERROR if status >= 500 else cls.ERROR)


# The code each status means on its own; the others of the same status are more precise refusals.
_BY_STATUS = {
    code.status: code
    for code in (
        ErrorCode.VALIDATION_ERROR,
        ErrorCode.UNAUTHORIZED,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.METHOD_NOT_ALLOWED,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ErrorCode.RATE_LIMITED,
        ErrorCode.SERVICE_UNAVAILABLE,
    )
}


class ServiceError(Exception):
    """A refusal with a stable code, a sentence for people, and the field it is about. Its status
    is the code's unless given."""

    status = 400

    def __init__(
        self, code: ErrorCode, message: str, *, field: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        # A look-up by value (a str that names no code fails here): mypy reads it as the custom __new__.
        self.code = ErrorCode(code)  # type: ignore[call-arg]
        self.message = message
        self.field = field
        self.status = status or self.code.status or self.status


class KeyNotFound(ServiceError):
    """Unknown id, malformed id, or a key the actor may not see: one answer for all three."""

    def __init__(self, message: str = "No API key with that id.") -> None:
        super().__init__(ErrorCode.NOT_FOUND, message)
