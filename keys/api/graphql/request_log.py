"""GraphQL ``apiKeyRequests(id, …)``: a key's request log as a connection (edges with cursors and
Relay's ``pageInfo``), the same rows, filters and rules as REST ``GET /org/api-keys/{id}/requests``. Apart
from ``schema.py``, whose ``Query`` only delegates here, so that the request log is one piece of the
schema."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.relay import PageInfo

from accounts.actors import Actor
from keys import request_log, selectors
from keys.api.serializers import request_out
from keys.errors import ErrorCode
from keys.models import RequestLogEntry
from keys.request_log import StatusClass, Surface
from paging import NEXT

# The request log's vocabulary, the same Python enums as REST's StatusClass, Surface and
# RequestErrorCode (whose values are ErrorCode's). A status class cannot be named by its REST value
# in GraphQL (a name cannot start with a digit), so its values are its members' names.
strawberry.enum(
    StatusClass,
    description="A class of HTTP statuses (REST: 2xx, 3xx, 4xx, 5xx): SUCCESS answered, REDIRECTION "
    "redirected, CLIENT_ERROR refused, SERVER_ERROR failed.",
)
strawberry.enum(Surface, description="Which API a request called (REST: rest, graphql).")
strawberry.enum(
    ErrorCode,
    name="RequestErrorCode",
    description="The error code a request was answered with, by its REST name (REST: validation_error, "
    "forbidden, …): GraphQL's own names (BAD_USER_INPUT, ACCESS_DENIED, UNAUTHENTICATED) are logged as "
    "REST's (VALIDATION_ERROR, FORBIDDEN, UNAUTHORIZED).",
)


@strawberry.type(description="One request made with a key, or a refused attempt that named it.")
class ApiKeyRequest:
    time: datetime
    method: str
    route: str = strawberry.field(description="The URL pattern; empty when none matched")
    path: str = strawberry.field(description="The path, and the query string's parameter names only")
    status: int
    error_code: ErrorCode | None = strawberry.field(description="The error code answered, by its REST name")
    reason: str | None = strawberry.field(
        description="wrong_secret, disabled, expired, ip_not_allowed, missing_scope or rate_limited"
    )
    why: str | None = strawberry.field(
        description='The refusal in words, e.g. "missing scope api-keys:write"'
    )
    client_ip: str | None
    duration_ms: float
    request_id: str = strawberry.field(description="The X-Request-ID answered; request_id in the JSON logs")
    surface: Surface
    operation: str | None = strawberry.field(description="GraphQL: the operation's name")
    operation_type: str | None = strawberry.field(description="GraphQL: query or mutation")


@strawberry.type
class ApiKeyRequestEdge:
    cursor: str = strawberry.field(description="Pass as after for the rows older than this one")
    node: ApiKeyRequest


@strawberry.type(description="A key's requests, newest first.")
class ApiKeyRequestConnection:
    edges: list[ApiKeyRequestEdge]
    page_info: PageInfo


def _node(entry: RequestLogEntry) -> ApiKeyRequest:
    fields = request_out(entry)
    fields["time"] = entry.time
    # error_code stays its value: the enum is answered by value (ErrorCode is a StrEnum)
    fields["surface"] = Surface(fields["surface"])
    return ApiKeyRequest(**fields)


def api_key_requests(
    actor: Actor,
    key_id: str,
    *,
    status: StatusClass | None,
    code: ErrorCode | None,
    surface: Surface | None,
    since: datetime | None,
    until: datetime | None,
    first: int,
    after: str | None,
) -> ApiKeyRequestConnection:
    """The connection; a ServiceError (not found, a wrong filter) for the caller to turn into a
    GraphQL error. ``actor`` may read keys (``keys.api.access.require``)."""
    key = selectors.get_visible_key(actor, key_id)
    filters = request_log.parse_filters(
        {
            "status": status,
            "code": code,
            "surface": surface,
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        }
    )
    page = request_log.page_of_requests(key, filters, limit=first, cursor=after)
    edges = [
        ApiKeyRequestEdge(cursor=request_log.KEYSET.cursor(NEXT, row), node=_node(row)) for row in page.rows
    ]
    # Relay's PageInfo, as apiKeysConnection answers it; going back is by the REST call's previous.
    return ApiKeyRequestConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.next is not None,
            has_previous_page=page.previous is not None,
            start_cursor=page.previous,
            end_cursor=page.next,
        ),
    )
