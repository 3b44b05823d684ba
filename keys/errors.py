"""The one error body of SPEC §4: ``{"error": {"code": ..., "message": ...}}``."""

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
