"""The JSON error bodies of requests to ``/api/``, in the shape each surface's clients expect.

REST: ``{"error": {"code", "message"}}``. GraphQL (``/api/graphql``): ``{"errors": [{"message",
"extensions": {"code"}}]}`` with GraphQL's names for the same codes. The status is the code's
(``keys.errors.ErrorCode``) on both, so that monitoring sees a 401 or a 429 as such.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from keys.errors import ErrorCode

GRAPHQL_PATH = "/api/graphql"
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


def graphql_error_response(
    code: ErrorCode, message: str, headers: dict[str, str] | None = None, *, status: int | None = None
) -> ErrorResponse:
    """The GraphQL error body, with GraphQL's name for the code; its status is the code's unless given."""
    status = status or code.status or 400
    body = {"errors": [{"message": message, "extensions": {"code": code.graphql}}]}
    response = ErrorResponse(body, status=status)
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
    build = graphql_error_response if request.path_info == GRAPHQL_PATH else error_response
    return build(code, message, headers, status=status)


def unauthorized(request: HttpRequest, message: str = UNAUTHORIZED_MESSAGE) -> ErrorResponse:
    return error_for(request, ErrorCode.UNAUTHORIZED, message)


def service_unavailable(request: HttpRequest) -> ErrorResponse:
    return error_for(
        request,
        ErrorCode.SERVICE_UNAVAILABLE,
        "The service is briefly unavailable (its database does not answer). Retry in a few seconds.",
        {"Retry-After": "5"},
    )
