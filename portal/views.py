"""Probes and error pages."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from keys.api.responses import ERROR_MESSAGES, error_for, service_unavailable
from keys.errors import ErrorCode
from keys.metering.ratelimit import limiter

log = logging.getLogger(__name__)


@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. Touches neither the database nor the cache."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """503 when the database or the cache does not answer; ``degraded`` (still 200) when only the
    Redis behind shared rate limits is away, because keys are still verified and limited per process."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        log.warning("readyz: database unavailable: %s", exc)
        checks["database"] = "unavailable"
    shared = limiter().check_shared()
    try:
        cache.set("readyz", "1", 5)
        checks["cache"] = "ok" if cache.get("readyz") == "1" else "unavailable"
    except Exception as exc:
        log.warning("readyz: cache unavailable: %s", exc)
        checks["cache"] = "unavailable"
    if shared is not None:
        checks["rate_limits"] = "shared" if shared else "per-process (Redis unreachable)"
    if checks["database"] != "ok" or (checks["cache"] != "ok" and shared is None):
        return JsonResponse({"status": "unavailable", "checks": checks}, status=503)
    degraded = shared is False or checks["cache"] != "ok"
    return JsonResponse({"status": "degraded" if degraded else "ready", "checks": checks})


def _error(template: str, status: int) -> Callable[..., HttpResponse]:
    def view(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            answer = status
            if isinstance(exception, RequestDataTooBig):
                answer = 413  # Django calls it a bad request; HTTP has its own status for it
            return error_for(request, ErrorCode.for_status(answer), ERROR_MESSAGES[answer], status=answer)
        return render(request, template, {"exception": exception}, status=status)

    return view


bad_request = _error("400.html", 400)
permission_denied = _error("403.html", 403)
page_not_found = _error("404.html", 404)
_server_error = _error("500.html", 500)


def server_error(request: HttpRequest) -> HttpResponse:
    """A 500, unless the database is away or cancelled a statement that ran too long (Django calls
    this view while handling the exception, from a view or a middleware alike): then 503, the
    API's JSON body or the portal's "try again" page, with ``Retry-After``."""
    if isinstance(sys.exc_info()[1], OperationalError):
        return database_unavailable(request)
    return _server_error(request)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return service_unavailable(request)
    response = render(request, "503.html", status=503)
    response["Retry-After"] = "5"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
