"""Authenticates requests to ``/api/`` with an API key: one code path for all four header forms.

A key never logs anyone in: this middleware only sets ``request.api_key`` (never ``request.user``)
and only under ``/api/``, so portal pages and ``/admin/`` ignore keys entirely.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from keys import credentials, errors, usage
from keys.ratelimit import limiter
from keys.verification import VerifiedKey, verify_secret
from portal.network import client_ip

API_PREFIX = "/api/"
QUERY_KEY_MESSAGE = (
    "API keys are refused in the URL, where logs and browser history keep them. "
    "Send the key in the Authorization or X-API-Key header, and regenerate the key you just exposed."
)

_NO_CREDENTIALS = object()
_MALFORMED = object()


def presented_credentials(request: HttpRequest):
    """The credentials a request presents, ``_NO_CREDENTIALS``, or ``_MALFORMED``."""
    authorization = request.META.get("HTTP_AUTHORIZATION")
    header_key = request.META.get("HTTP_X_API_KEY")
    values = []
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _MALFORMED
        values.append(value.strip())
    if header_key is not None:
        values.append(header_key.strip())
    if not values:
        return _NO_CREDENTIALS
    if len(values) == 2 and values[0] != values[1]:
        return _MALFORMED
    parsed = credentials.parse_presented(values[0])
    return _MALFORMED if parsed is None else parsed


def _secret_in_query(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    return "sk_" in query and any(
        credentials.SECRET_PATTERN.search(v) for values in request.GET.lists() for v in values[1]
    )


class ApiKeyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        request.api_key = None
        if _secret_in_query(request):
            return errors.unauthorized(QUERY_KEY_MESSAGE)
        presented = presented_credentials(request)
        if presented is _NO_CREDENTIALS:
            # Public API paths (the OpenAPI document, the docs) answer; the rest say 401 themselves.
            return self.get_response(request)
        key = None if presented is _MALFORMED else verify_secret(presented)
        if key is None:
            # Same answer for malformed, unknown, wrong, expired and revoked: no key enumeration.
            return errors.unauthorized()
        return self._call_with_key(request, key)

    def _call_with_key(self, request: HttpRequest, key: VerifiedKey) -> HttpResponse:
        decision = limiter().hit(str(key.id), key.rate_limit)
        request.api_key = key
        request.rate_limit = decision
        if decision.allowed:
            response = self.get_response(request)
        else:
            response = errors.error_response(
                429,
                "rate_limited",
                f"This key is limited to {decision.limit} requests per minute. "
                f"Retry after {max(1, decision.reset_seconds)} seconds.",
            )
        for name, value in decision.headers().items():
            response[name] = value
        # Only count here what the view did not already count (verify counts the verified key).
        usage.buffer.record(key.id, response.status_code, client_ip(request))
        usage.buffer.maybe_flush()
        return response
