"""What operations see of every request: its id, its metrics, its log line.

- **Request id**: the caller's ``X-Request-ID`` when it is a plain token (a load balancer's, say),
  else a new random one; returned as ``X-Request-ID``, written into every audit event and every JSON
  log line made while the request is served.
- **Metrics** (``GET /metrics``, Prometheus text format, or OpenMetrics when the scraper asks for
  it): requests by surface (``portal``, ``rest``, ``graphql``, ``probe``), method, route template
  and status class; latency by surface; time queued before a worker took the request (from a
  proxy's ``X-Request-Start``); each worker's ``process_*`` metrics; and what
  ``keys.metering.metrics`` counts; the task queue's backlog, read from the database at scrape time
  (``TaskQueue``). Under gunicorn the workers share them through
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
import math
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.cache import never_cache
from django_tasks_db.models import DBTaskResult
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, ProcessCollector
from prometheus_client import Counter as PrometheusCounter
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from accounts.actors import client_ip
from audit.context import request_id as current_request_id
from keys.networks import address_allowed, compile_networks
from portal.logs import ENVIRON_KEY

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

request_queue = Histogram(
    "akp_http_request_queue_seconds",
    "Time from the proxy in front receiving the request (its X-Request-Start header) to a worker "
    "taking it up: time spent waiting for a free worker. Only behind PROXY_COUNT trusted proxies.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REQUEST_START = re.compile(r"\s*t=(\d+(?:\.\d+)?)\s*")


def queued_seconds(header: str, now: float) -> float | None:
    """``X-Request-Start: t=<time>`` as proxies write it: Unix seconds (nginx's ``t=${msec}``,
    ``1700000000.123``), milliseconds (HAProxy's ``t=%Ts%ms``) or microseconds (``t=%t`` in
    Apache, Heroku); the unit is told by the size of the number. None when unreadable; a proxy's
    clock slightly ahead gives 0, not a negative time."""
    match = REQUEST_START.fullmatch(header)
    if match is None:
        return None
    value = float(match.group(1))
    if value > 1e14:
        value /= 1e6
    elif value > 1e11:
        value /= 1e3
    return max(0.0, now - value)


def surface_of(path: str) -> str:
    if path.startswith("/api/"):
        return "graphql" if path == "/api/graphql" else "rest"
    if path in ("/healthz", "/readyz", "/metrics"):
        return "probe"
    return "portal"


class RequestObserver:
    """First in ``MIDDLEWARE``, so that it sees both stacks and the whole of each request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.metrics = settings.METRICS_ENABLED
        self.log_requests = settings.LOG_REQUESTS
        # The labelled children, made once each: prometheus-client's labels() takes a lock and
        # checks every value on each call.
        self._counted: dict[tuple[str, str, str, str], PrometheusCounter] = {}
        self._timed = {
            surface: request_duration.labels(surface) for surface in ("portal", "rest", "graphql", "probe")
        }

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        # X-Request-Start is trusted only behind a proxy, which sets it (a client could write any
        # time in it); gunicorn itself records no time before a worker accepts the connection.
        header = request.META.get("HTTP_X_REQUEST_START")
        if header and self.metrics and settings.PROXY_COUNT > 0:
            queued = queued_seconds(header, time.time())
            if queued is not None:
                request_queue.observe(queued)
        incoming = request.META.get("HTTP_X_REQUEST_ID")
        rid = incoming if incoming and INCOMING_ID.fullmatch(incoming) else os.urandom(16).hex()
        token = current_request_id.set(rid)
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = rid
            self._observe(request, response, time.perf_counter() - started, rid)
            return response
        finally:
            current_request_id.reset(token)

    def _observe(self, request: HttpRequest, response: HttpResponseBase, seconds: float, rid: str) -> None:
        path = request.path_info
        surface = surface_of(path)
        match = request.resolver_match
        route = match.route if match is not None else UNRESOLVED
        method = request.method if request.method in METHODS else "OTHER"
        status = response.status_code
        key = getattr(request, "api_key", None)
        key_id = str(key.id) if key is not None else None
        # For gunicorn's access line (LOG_FORMAT=json), written once the answer is sent.
        request.META[ENVIRON_KEY] = {
            "request_id": rid,
            "surface": surface,
            "method": method,
            "route": route,
            "key_id": key_id,
        }
        if self.metrics:
            labels = (surface, method, route, f"{status // 100}xx")
            counter = self._counted.get(labels)
            if counter is None:
                counter = self._counted[labels] = requests_total.labels(*labels)
            counter.inc()
            self._timed[surface].observe(seconds)
        if self.log_requests:
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
                    "key_id": key_id,
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
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = CollectorRegistry()
    if directory:
        MultiProcessCollector(registry)  # every worker's files, added up
        registry.register(WorkerProcesses(directory))
    else:
        registry.register(Registered(REGISTRY))  # one process: the client's own process_* collector is in it
    registry.register(TaskQueue())
    # The Prometheus text format, or OpenMetrics when the scraper's Accept header asks for it.
    encode, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encode(registry), content_type=content_type)


def _returning(pid: int) -> Callable[[], int]:
    return lambda: pid


class WorkerProcesses(Collector):
    """``process_*`` (CPU, memory, open files, start time) of every live worker, labelled ``pid``.

    In multiprocess mode the client has no process metrics: its ``ProcessCollector`` reads one
    process's ``/proc`` entry, and the worker answering a scrape is any one of them. Its own
    collector, pointed at each live worker's pid in turn, reads them all at scrape time (fresh values,
    nothing to write from the workers). The live workers are the pids of the directory's live-gauge
    files: every worker writes one at import (``akp_usage_oldest_pending_timestamp_seconds``), and
    gunicorn's ``child_exit`` removes a worker's when it exits (``mark_process_dead``). Workers on
    another machine are that machine's scrape. Linux only, like ``ProcessCollector``."""

    PID = re.compile(r"gauge_live[a-z]+_(\d+)\.db")

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def pids(self) -> list[int]:
        found = (self.PID.fullmatch(path.name) for path in self.directory.glob("gauge_live*.db"))
        return sorted({int(m.group(1)) for m in found if m})

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for pid in self.pids():
            for metric in ProcessCollector(pid=_returning(pid), registry=None).collect():
                family = families.setdefault(
                    metric.name, Metric(metric.name, metric.documentation, metric.type)
                )
                for sample in metric.samples:
                    family.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        return families.values()


class TaskQueue(Collector):
    """The database task queue's backlog (``manage.py db_worker``'s work), read at scrape time in
    one query on the index of ready tasks: how many tasks wait to run, and since when the oldest
    has waited. The queue is the deployment's, so every node reports the same numbers. A database
    that does not answer leaves them out of the scrape rather than failing it."""

    def collect(self) -> Iterable[Metric]:
        try:
            waiting = DBTaskResult.objects.ready().aggregate(count=Count("pk"), oldest=Min("enqueued_at"))
        except DatabaseError:
            return []
        ready = GaugeMetricFamily(
            "akp_tasks_ready", "Background tasks (emails) waiting for the task worker, ready to run."
        )
        ready.add_metric([], waiting["count"])
        oldest = GaugeMetricFamily(
            "akp_tasks_oldest_ready_timestamp_seconds",
            "When the oldest task still waiting was enqueued (Unix time; +Inf when none waits). "
            "time() minus it is how far behind the task worker is.",
        )
        oldest.add_metric([], waiting["oldest"].timestamp() if waiting["oldest"] else math.inf)
        return [ready, oldest]


class Registered(Collector):
    """What a registry holds, as one collector of another (the scrape's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()
