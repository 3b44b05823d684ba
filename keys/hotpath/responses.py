"""The one JSON error body of every request made with a key: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from django.http import JsonResponse

UNAUTHORIZED_MESSAGE = (
    "Missing or invalid API key. Send it as 'Authorization: Bearer <secret>' or 'X-API-Key: <secret>'."
)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    response["Cache-Control"] = "no-store"
    return response


def unauthorized(message: str = UNAUTHORIZED_MESSAGE) -> JsonResponse:
    return error_response(401, "unauthorized", message)


def service_unavailable() -> JsonResponse:
    return error_response(
        503,
        "service_unavailable",
        "The service is briefly unavailable (its database does not answer). Retry in a few seconds.",
        {"Retry-After": "5"},
    )
