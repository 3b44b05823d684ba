"""Reading a key's request log: its pages newest first by cursor, the filters every surface offers
(the key's page, REST, GraphQL), why a refused request was refused in words, and the last 24 hours'
durations and busiest routes for the usage card.

Who may read it is who may see the key: callers ask for the key through
``keys.selectors.get_visible_key`` first (the tenant and subtree rules of every read), then read its
rows here by its id. Rows are written by ``keys.metering.requestlog``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from keys.errors import ErrorCode, ServiceError
from keys.metering import requestlog
from keys.models import ApiKey, RequestLogEntry
from paging import BadCursor, Keyset, KeysetPage, keyset_page

KEYSET = Keyset("-time", "-id")
PAGE_SIZE = 50
MAX_PAGE = 100


class StatusClass(StrEnum):
    """A class of HTTP statuses: 2xx answered, 3xx redirected, 4xx refused, 5xx failed."""

    SUCCESS = "2xx"
    REDIRECTION = "3xx"
    CLIENT_ERROR = "4xx"
    SERVER_ERROR = "5xx"


class Surface(StrEnum):
    """Which API a request called."""

    REST = "rest"
    GRAPHQL = "graphql"


STATUS_CLASSES = tuple(member.value for member in StatusClass)
SURFACES = tuple(member.value for member in Surface)
CODES = frozenset(code.value for code in ErrorCode)
RECENT = timedelta(hours=24)
TOP_ROUTES = 5
# The usage card's last 24 hours are read from the log at most once a minute per key: a busy key's day
# is 100,000s of rows (≈ 55 ms of PostgreSQL for 150,000), and a minute changes little of a day.
RECENT_CACHE_SECONDS = 60


@dataclass(frozen=True)
class RequestFilters:
    status: str | None = None  # a status class: 2xx, 3xx, 4xx or 5xx
    code: str | None = None  # an error code (keys.errors.ErrorCode's value)
    surface: str | None = None  # rest or graphql
    since: datetime | None = None  # from this moment on (inclusive)
    until: datetime | None = None  # before this moment

    def is_empty(self) -> bool:
        return not any(vars(self).values())


def _invalid(field: str, message: str) -> ServiceError:
    return ServiceError(ErrorCode.VALIDATION_ERROR, message, field=field)


def _moment(field: str, value: str) -> datetime:
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise _invalid(
            field,
            f"{field} must be a date and time in ISO 8601, e.g. 2026-12-04T13:05:00Z (got “{value[:40]}”).",
        )
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def parse_filters(data: Mapping[str, Any]) -> RequestFilters:
    """The filters of a query (``status``, ``code``, ``surface``, ``since``, ``until``); an empty
    value is no filter, a wrong one a ``validation_error`` naming its field."""

    def text(name: str) -> str | None:
        value = data.get(name)
        return str(value).strip() or None if value is not None else None

    status, code, surface = text("status"), text("code"), text("surface")
    if status is not None:
        status = status.lower()
        if status not in STATUS_CLASSES:
            raise _invalid("status", f"status must be one of {', '.join(STATUS_CLASSES)}.")
    if code is not None and code not in CODES:
        raise _invalid("code", f"code “{code[:40]}” is not an error code (e.g. forbidden, rate_limited).")
    if surface is not None:
        surface = surface.lower()
        if surface not in SURFACES:
            raise _invalid("surface", "surface must be rest or graphql.")
    since_text, until_text = text("since"), text("until")
    since = _moment("since", since_text) if since_text else None
    until = _moment("until", until_text) if until_text else None
    if since and until and since >= until:
        raise _invalid("until", "until must be after since.")
    return RequestFilters(status=status, code=code, surface=surface, since=since, until=until)


def requests_of(key: ApiKey, filters: RequestFilters = RequestFilters()) -> QuerySet[RequestLogEntry]:
    """The key's rows under these filters (in no order: ``page_of_requests`` orders them)."""
    rows = RequestLogEntry.objects.filter(key_id=key.pk)
    if filters.status:
        rows = rows.filter(status_class=int(filters.status[0]))
    if filters.code:
        rows = rows.filter(error_code=filters.code)
    if filters.surface:
        rows = rows.filter(surface=filters.surface)
    if filters.since:
        rows = rows.filter(time__gte=filters.since)
    if filters.until:
        rows = rows.filter(time__lt=filters.until)
    return rows


def page_of_requests(
    key: ApiKey,
    filters: RequestFilters = RequestFilters(),
    *,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
    last: bool = False,
) -> KeysetPage[RequestLogEntry]:
    """One page of the key's requests, newest first: one indexed query at any depth."""
    if not 1 <= limit <= MAX_PAGE:
        raise _invalid("limit", f"limit must be 1 to {MAX_PAGE}.")
    try:
        return keyset_page(requests_of(key, filters), KEYSET, size=limit, cursor=cursor, last=last)
    except BadCursor:
        raise _invalid("cursor", "cursor is not one this list handed out (same filters).") from None


def why(entry: RequestLogEntry) -> str:
    """Why a refused request was refused, in words; empty for the rest (their code says it)."""
    reason, detail = entry.reason, entry.detail
    if reason == requestlog.MISSING_SCOPE:
        return f"missing scope {detail}"
    if reason == requestlog.IP_NOT_ALLOWED:
        return f"from {entry.client_ip or 'an unknown address'}, outside the allowed networks"
    if reason == requestlog.RATE_LIMITED:
        return f"over the rate limit of {detail} requests per minute" if detail else "over the rate limit"
    if reason == requestlog.DISABLED:
        return "the key is disabled"
    if reason == requestlog.EXPIRED:
        return "the key had expired, or an old secret's grace period had ended"
    if reason == requestlog.WRONG_SECRET:
        return "this key's Client ID with a secret that is not its current one"
    return ""


@dataclass(frozen=True)
class RouteStats:
    route: str
    calls: int
    p95_ms: float | None


@dataclass(frozen=True)
class RecentStats:
    """The last 24 hours of a key, from its request log."""

    calls: int
    p50_ms: float | None
    p95_ms: float | None
    routes: list[RouteStats]  # the busiest first, at most TOP_ROUTES


def recent_stats(key: ApiKey, now: datetime | None = None) -> RecentStats:
    """p50 and p95 duration and the busiest routes of the last 24 hours, in one query on the key's
    index (on PostgreSQL a histogram counted from the index, which carries route and duration)."""
    since = (now or timezone.now()) - RECENT
    if connection.vendor == "postgresql":
        by_route = _percentiles_in_postgres(key, since)
    else:
        by_route = _percentiles_in_python(key, since)
    overall = by_route.pop(None, (0, None, None))
    routes = sorted(by_route.items(), key=lambda item: (-item[1][0], item[0] or ""))[:TOP_ROUTES]
    return RecentStats(
        calls=overall[0],
        p50_ms=overall[1],
        p95_ms=overall[2],
        routes=[RouteStats(route or "(no route)", calls, p95) for route, (calls, _, p95) in routes],
    )


def cached_recent_stats(key: ApiKey) -> RecentStats:
    """:func:`recent_stats` as the key's page shows it: from the shared cache when read within the
    last ``RECENT_CACHE_SECONDS``; the log itself when the cache has none or is away."""
    name = f"request-log:recent:{key.pk}"
    try:
        found = cache.get(name)
    except Exception:  # a cache away never takes the key's page down: the log answers
        found = None
    if isinstance(found, RecentStats):
        return found
    stats = recent_stats(key)
    with contextlib.suppress(Exception):  # as above: the card was read, only not kept
        cache.set(name, stats, RECENT_CACHE_SECONDS)
    return stats


def _ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else round(microseconds / 1000, 1)


# PostgreSQL counts the durations into buckets 2 % wide (a logarithmic histogram) instead of sorting
# them: a busy key's day is 100,000s of rows, which percentile_cont sorted (on disk) in 0.8 s, while
# counting them from the key's index (an index-only scan: it carries route and duration) is a hash
# aggregate; p50 and p95 are then read from the histogram, within 2 %.
BUCKETS_PER_E = 50


def _percentiles_in_postgres(key: ApiKey, since: datetime) -> dict[str | None, tuple[int, Any, Any]]:
    table = connection.ops.quote_name(RequestLogEntry._meta.db_table)
    sql = (
        f"SELECT route, floor(ln(greatest(duration_us, 1)) * {BUCKETS_PER_E})::int, count(*) "  # noqa: S608
        f"FROM {table} WHERE key_id = %s AND time >= %s GROUP BY 1, 2"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [key.pk, since])
        rows = cursor.fetchall()
    histograms: dict[str | None, dict[int, int]] = {None: {}}
    for route, bucket, calls in rows:
        for name in (None, route):
            histogram = histograms.setdefault(name, {})
            histogram[bucket] = histogram.get(bucket, 0) + calls
    if not histograms[None]:
        return {}
    return {
        route: (
            sum(histogram.values()),
            _ms(_from_histogram(histogram, 0.5)),
            _ms(_from_histogram(histogram, 0.95)),
        )
        for route, histogram in histograms.items()
    }


def _from_histogram(histogram: dict[int, int], fraction: float) -> float:
    """The duration (µs) at ``fraction`` of the calls: the middle of the bucket it falls in."""
    total = sum(histogram.values())
    wanted = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= wanted:
            return math.exp((bucket + 0.5) / BUCKETS_PER_E)
    return math.exp((max(histogram) + 0.5) / BUCKETS_PER_E)


def _percentiles_in_python(key: ApiKey, since: datetime) -> dict[str | None, tuple[int, Any, Any]]:
    """SQLite has no percentile: its rows' durations, read in one query and ranked here (the
    development database; a busy key's day is PostgreSQL's)."""
    rows = RequestLogEntry.objects.filter(key_id=key.pk, time__gte=since).values_list("route", "duration_us")
    durations: dict[str | None, list[int]] = {None: []}
    for route, duration in rows:
        durations[None].append(duration)
        durations.setdefault(route, []).append(duration)
    if not durations[None]:
        return {}
    return {
        route: (len(values), _ms(_percentile(values, 0.5)), _ms(_percentile(values, 0.95)))
        for route, values in durations.items()
    }


def _percentile(values: list[int], fraction: float) -> float:
    """Linear interpolation between the closest ranks, as PostgreSQL's percentile_cont."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
