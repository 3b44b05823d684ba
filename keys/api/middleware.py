"""Authenticates requests to ``/api/`` with an API key: one code path for all four header forms.

A key never logs anyone in: this middleware only sets ``request.api_key`` and ``request.actor``
(never ``request.user``) and only under ``/api/``, so portal pages and ``/admin/`` ignore keys.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.debug import sensitive_variables

from accounts.actors import Actor, ActorRequest, client_ip, user_agent
from audit.models import AuditAction
from audit.services import record_event
from keys import credentials, services
from keys.api import responses
from keys.authentication.verification import VerifiedKey
from keys.errors import ErrorCode
from keys.metering import metrics, requestlog, usage
from keys.metering.ratelimit import Decision, limiter

API_PREFIX = "/api/"
QUERY_KEY_MESSAGE = (
    "API keys are refused in the URL, where logs and browser history keep them. "
    "Send the key in the Authorization or X-API-Key header, and regenerate the key you just exposed."
)


class _NotCredentials(enum.Enum):
    """What ``presented_credentials`` answers for a request that presents no usable credentials."""

    NONE = "none"
    MALFORMED = "malformed"


_NO_CREDENTIALS: Final = _NotCredentials.NONE
_MALFORMED: Final = _NotCredentials.MALFORMED
log = logging.getLogger(__name__)


class FailedAuthRecorder:
    """Failed key authentications go to the audit log, throttled so that a flood of bad keys
    cannot fill the disk: per worker, at most one event per client address per minute and at most
    ``PER_MINUTE`` events a minute in all. The presented value itself is never recorded."""

    PER_MINUTE = 30

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window_start = 0.0
        self._count = 0
        self._seen: dict[str | None, float] = {}

    def should_record(self, ip: str | None, now: float) -> bool:
        with self._lock:
            if now - self._window_start >= 60:
                self._window_start, self._count = now, 0
                self._seen = {k: t for k, t in self._seen.items() if now - t < 60}
            if self._count >= self.PER_MINUTE or now - self._seen.get(ip, -1e9) < 60:
                return False
            self._count += 1
            self._seen[ip] = now
            return True

    def record(self, request: HttpRequest, reason: str) -> None:
        ip = client_ip(request)
        if not self.should_record(ip, time.monotonic()):
            return
        self._write(
            actor=Actor.anonymous(label="unauthenticated API client", ip=ip, user_agent=user_agent(request)),
            action=AuditAction.KEY_AUTH_FAILED,
            details={"reason": reason, "path": request.path_info[:200], "method": request.method},
        )

    def record_network_refused(self, request: HttpRequest, actor: Actor, key: VerifiedKey) -> None:
        """A valid key used from outside its allowed networks: recorded against the key."""
        if not self.should_record(actor.ip, time.monotonic()):
            return
        self._write(
            actor=actor,
            action=AuditAction.KEY_IP_REFUSED,
            key_id=key.id,
            account_id=key.account_id,
            details={"path": request.path_info[:200], "method": request.method},
        )

    @staticmethod
    def _write(**event: Any) -> None:
        try:
            record_event(**event)
        except DatabaseError:
            log.warning("Could not record a refused key authentication (database unavailable)")


failed_auth = FailedAuthRecorder()
# Its own throttle: a flood of bad keys must not hide a valid key used from the wrong network.
refused_networks = FailedAuthRecorder()


def presented_credentials(request: HttpRequest) -> credentials.PresentedCredentials | _NotCredentials:
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
        credentials.contains_secret(v) for values in request.GET.lists() for v in values[1]
    )


class KeyRequest(ActorRequest):
    """A request under ``/api/`` as views see it after ``ApiKeyMiddleware`` (type annotation only)."""

    api_key: VerifiedKey | None
    rate_limit: Decision
    graphql_operation: tuple[str, str]  # the GraphQL view's operation name and type, for the request log


class ApiKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    @sensitive_variables("presented")
    def __call__(self, request: KeyRequest) -> HttpResponseBase:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        request.api_key = None
        if _secret_in_query(request):
            failed_auth.record(request, "key in the URL")
            metrics.auth_outcome[ErrorCode.UNAUTHORIZED].inc()
            return responses.unauthorized(request, QUERY_KEY_MESSAGE)
        started = time.perf_counter()  # the request log's duration
        presented = presented_credentials(request)
        if presented is _NO_CREDENTIALS:
            # Public API paths (the OpenAPI document, the docs) answer; the rest say 401 themselves.
            return self.get_response(request)
        outcome: str  # why a key was refused, as /metrics counts it
        try:
            if presented is _MALFORMED:
                key, outcome, named = None, ErrorCode.UNAUTHORIZED, None
            else:
                key, outcome, named = services.check_key(presented=presented)
            if key is None:
                # Same answer for malformed, unknown, wrong, expired, disabled and revoked: no key
                # enumeration. Only /metrics counts disabled keys apart, and only the named key's
                # request log (read by those who may see the key) says why.
                failed_auth.record(
                    request, "malformed" if presented is _MALFORMED else "unknown or not valid"
                )
                metrics.auth_outcome[outcome].inc()
                refused = responses.unauthorized(request)
                if named is not None:
                    requestlog.buffer.record(
                        request, named.id, 401, refused.error_code, client_ip(request), started, named.reason
                    )
                return refused
            return self._call_with_key(request, key, started)
        except DatabaseError:
            # The database went away mid-request: a clear, retryable JSON answer, never a 500 page.
            log.exception("Database error while serving %s", request.path_info)
            return responses.service_unavailable(request)

    def _call_with_key(self, request: KeyRequest, key: VerifiedKey, started: float) -> HttpResponseBase:
        ip = client_ip(request)
        if key.networks and not key.allows_ip(ip):
            return self._refuse_network(request, key, ip, started)
        decision = limiter().hit(str(key.id), key.rate_limit)
        request.api_key = key
        request.actor = Actor.for_key(key, ip=ip, user_agent=user_agent(request))
        request.rate_limit = decision
        reason = detail = ""
        if decision.allowed:
            metrics.auth_outcome["ok"].inc()
            response = self.get_response(request)
            note = requestlog.refusal.get()
            if note is not None:  # the view refused for a reason of its own (a missing scope)
                reason, detail = note
                requestlog.refusal.set(None)
        else:
            metrics.auth_outcome[ErrorCode.RATE_LIMITED].inc()
            response = responses.error_for(
                request,
                ErrorCode.RATE_LIMITED,
                f"This key is limited to {decision.limit} requests per minute. "
                f"Retry after {max(1, decision.reset_seconds)} seconds.",
            )
            reason, detail = requestlog.RATE_LIMITED, str(decision.limit)
        for name, value in decision.headers().items():
            response[name] = value
        # Only count here what the view did not already count (verify counts the verified key).
        status = response.status_code
        usage.buffer.record(key.id, status, ip)
        code = getattr(response, "error_code", "")
        requestlog.buffer.record(request, key.id, status, code, ip, started, reason, detail)
        return response

    def _refuse_network(
        self, request: HttpRequest, key: VerifiedKey, ip: str | None, started: float
    ) -> HttpResponse:
        """403 ``ip_not_allowed``: the key is known, so the refusal is audited against it and counted
        in its usage as an error; it does not spend the key's rate limit, which belongs to the
        integration on the allowed network."""
        actor = Actor.for_key(key, ip=ip, user_agent=user_agent(request))
        metrics.auth_outcome[ErrorCode.IP_NOT_ALLOWED].inc()
        refused_networks.record_network_refused(request, actor, key)
        usage.buffer.record(key.id, 403, ip)
        response = responses.error_for(
            request,
            ErrorCode.IP_NOT_ALLOWED,
            f"This key may not be used from {ip or 'an unknown address'}: it is limited to its allowed "
            "networks. Call from one of them, or ask the key's managers to create a key for this one.",
            limiter().peek(str(key.id), key.rate_limit).headers(),
        )
        requestlog.buffer.record(
            request, key.id, 403, response.error_code, ip, started, requestlog.IP_NOT_ALLOWED
        )
        return response


class JsonErrorsMiddleware:
    """Every error under ``/api/`` is the JSON error body, those written by Django or django-ninja
    too: a wrong method (405, whose ``Allow`` header stays), a body over the size limit (413)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code < 400 or response.get("Content-Type", "").startswith(responses.JSON_TYPES):
            return response
        if not request.path_info.startswith(API_PREFIX):
            return response
        status = response.status_code
        message = responses.ERROR_MESSAGES.get(status) or f"{response.reason_phrase}."
        headers = {name: response[name] for name in ("Allow", "Retry-After") if response.has_header(name)}
        return responses.error_for(request, ErrorCode.for_status(status), message, headers, status=status)
