"""The JSON error bodies of requests to ``/api/``, in the shape each surface's clients expect.

REST: ``{"error": {"code", "message"}}``. GraphQL (``/api/graphql``): ``{"errors": [{"message",
"extensions": {"code"}}]}`` with GraphQL's names for the same codes. The status is the code's
(``keys.errors.ErrorCode``) on both, so that monitoring sees a 401 or a 429 as such.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from keys.errors import ErrorCode

GRAPHQL_PATH = "/api/graphql"
JSON = "application/json"
# GraphQL over HTTP's own media type: a client that asks for it is answered in it (with the same
# status codes: 4xx for a request that never executed, 200 once it executed, errors or not).
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON_TYPES = (JSON, GRAPHQL_RESPONSE_JSON)
UNAUTHORIZED_MESSAGE = (
    "Missing or invalid API key. Send it as 'Authorization: Bearer <secret>' or 'X-API-Key: <secret>'."
)
# Messages for the errors Django or django-ninja answer before (or instead of) a view of ours.
ERROR_MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    404: "Nothing found at this address.",
    405: "This method is not allowed here; the Allow header lists those that are.",
    413: "The request body is too large.",
    500: "Something went wrong on our side. Try again; if it persists, contact support.",
}


class ErrorResponse(JsonResponse):
    """An error body, with its code at hand for the request log (``error_code``: the REST name)."""

    error_code: str = ""


def _finish(response: ErrorResponse, status: int, headers: dict[str, str] | None) -> ErrorResponse:
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response["Cache-Control"] = "no-store"
    return response


def error_response(
    code: ErrorCode, message: str, headers: dict[str, str] | None = None, *, status: int | None = None
) -> ErrorResponse:
    """The REST error body; its status is the code's unless given."""
    status = status or code.status or 400
    response = ErrorResponse({"error": {"code": code, "message": message}}, status=status)
    response.error_code = code.value
    return _finish(response, status, headers)


def graphql_media_type(request: HttpRequest) -> str:
    """The media type of a GraphQL answer: ``application/graphql-response+json`` for a client that
    prefers it, ``application/json`` otherwise (older clients, no ``Accept``, ``*/*``)."""
    accept = request.META.get("HTTP_ACCEPT")
    if not accept or accept == "*/*" or GRAPHQL_RESPONSE_JSON not in accept:
        return JSON
    return request.get_preferred_type(JSON_TYPES) or JSON


def graphql_error_response(
    code: ErrorCode,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    status: int | None = None,
    media_type: str = JSON,
) -> ErrorResponse:
    """The GraphQL error body, with GraphQL's name for the code; its status is the code's unless given."""
    status = status or code.status or 400
    body = {"errors": [{"message": message, "extensions": {"code": code.graphql}}]}
    response = ErrorResponse(body, status=status, content_type=media_type)
    response.error_code = code.value
    return _finish(response, status, headers)


def error_for(
    request: HttpRequest,
    code: ErrorCode,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    status: int | None = None,
) -> ErrorResponse:
    """The error body of the surface the request was made to."""
    if request.path_info == GRAPHQL_PATH:
        return graphql_error_response(
            code, message, headers, status=status, media_type=graphql_media_type(request)
        )
    return error_response(code, message, headers, status=status)


def unauthorized(request: HttpRequest, message: str = UNAUTHORIZED_MESSAGE) -> ErrorResponse:
    return error_for(request, ErrorCode.UNAUTHORIZED, message)


def service_unavailable(request: HttpRequest) -> ErrorResponse:
    return error_for(
        request,
        ErrorCode.SERVICE_UNAVAILABLE,
        "The service is briefly unavailable (its database does not answer). Retry in a few seconds.",
        {"Retry-After": "5"},
    )
