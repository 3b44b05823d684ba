"""What operations see of every request: its id, its metrics, its log line.

- **Request id**: the caller's ``X-Request-ID`` when it is a plain token (a load balancer's, say),
  else a new random one; returned as ``X-Request-ID``, written into every audit event and every JSON
  log line made while the request is served.
- **Metrics** (``GET /metrics``, Prometheus text format): requests by surface (``portal``, ``rest``,
  ``graphql``, ``probe``), method, route template and status class; latency by surface; and what
  ``keys.hotpath.metrics`` counts. Under gunicorn the workers share them through
  ``PROMETHEUS_MULTIPROC_DIR`` (``gunicorn.conf.py``). A label never holds a raw path, a secret, a
  Client ID or an email: the route is the URL pattern (``api/v1/org/api-keys/<key_id>``), or
  ``<unresolved>`` for a request answered before routing (a refused key, an unknown path).
- **Logs**: ``LOG_FORMAT=json`` writes one JSON object per line (``portal.logs``); ``LOG_REQUESTS``
  (on with JSON) adds one line per request (request id, surface, method, route, status, duration,
  key id).
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import time

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PrometheusCounter
from prometheus_client.multiprocess import MultiProcessCollector

from accounts.actors import client_ip
from audit.context import request_id as current_request_id
from keys.networks import address_allowed, compile_networks

log = logging.getLogger("portal.requests")

# Plain tokens only, so that a client cannot smuggle a secret (whose prefix has "_") or markup
# into the logs and the audit log through this header.
INCOMING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:-]{0,127}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNRESOLVED = "<unresolved>"

requests_total = PrometheusCounter(
    "akp_http_requests",
    "HTTP requests answered, by surface (portal, rest, graphql, probe), method, route template and "
    "status class (2xx … 5xx).",
    ["surface", "method", "route", "status"],
)
request_duration = Histogram(
    "akp_http_request_duration_seconds",
    "Time from the request reaching Django to its response, by surface.",
    ["surface"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def surface_of(path: str) -> str:
    if path.startswith("/api/"):
        return "graphql" if path == "/api/graphql" else "rest"
    if path in ("/healthz", "/readyz", "/metrics"):
        return "probe"
    return "portal"


class RequestObserver:
    """First in ``MIDDLEWARE``, so that it sees both stacks and the whole of each request."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.metrics = settings.METRICS_ENABLED
        self.log_requests = settings.LOG_REQUESTS
        # The labelled children, made once each: prometheus-client's labels() takes a lock and
        # checks every value on each call.
        self._counted: dict[tuple[str, str, str, str], object] = {}
        self._timed = {
            surface: request_duration.labels(surface) for surface in ("portal", "rest", "graphql", "probe")
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        incoming = request.META.get("HTTP_X_REQUEST_ID")
        rid = incoming if incoming and INCOMING_ID.fullmatch(incoming) else os.urandom(16).hex()
        token = current_request_id.set(rid)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            if self.metrics or self.log_requests:
                self._observe(request, response, time.perf_counter() - started, rid)
            return response
        finally:
            current_request_id.reset(token)

    def _observe(self, request: HttpRequest, response: HttpResponse, seconds: float, rid: str) -> None:
        path = request.path_info
        surface = surface_of(path)
        match = request.resolver_match
        route = match.route if match is not None else UNRESOLVED
        method = request.method if request.method in METHODS else "OTHER"
        status = response.status_code
        if self.metrics:
            labels = (surface, method, route, f"{status // 100}xx")
            counter = self._counted.get(labels)
            if counter is None:
                counter = self._counted[labels] = requests_total.labels(*labels)
            counter.inc()
            self._timed[surface].observe(seconds)
        if self.log_requests:
            key = getattr(request, "api_key", None)
            log.info(
                "%s %s %s %s",
                method,
                route,
                status,
                f"{seconds * 1000:.1f}ms",
                extra={
                    "surface": surface,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "key_id": str(key.id) if key is not None else None,
                },
            )


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode()):
            return True
    networks = _allowed_networks()
    return bool(networks) and address_allowed(networks, client_ip(request))  # none listed: token only


_networks: dict[tuple[str, ...], tuple] = {}


def _allowed_networks() -> tuple:
    spec = tuple(settings.METRICS_ALLOWED_IPS)
    if spec not in _networks:
        _networks[spec] = compile_networks(spec)
    return _networks[spec]


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: 404 (as if there were nothing here) unless metrics are on and the request
    comes from ``METRICS_ALLOWED_IPS`` or carries ``METRICS_TOKEN`` as a bearer token."""
    if not settings.METRICS_ENABLED or not _may_scrape(request):
        raise Http404
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # every worker's files, added up
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
