"""The request log's writing side: every request made with a key, and every refused attempt that
names one, appended to this process's buffer and written in batches by the usage timer.

On the request path (``keys.api.middleware``) a request costs one tuple appended under a lock held
for the append: no database, no formatting. The timer thread (``keys.metering.flusher``) turns the
tuples into rows (the route template of a request refused before routing, the query string's
parameter names without their values, secret-shaped text scrubbed from the path) and writes them
every ``USAGE_FLUSH_SECONDS``: PostgreSQL with one ``COPY`` (psycopg 3) into the day's partitions,
created ahead by :func:`maintain` and, for a day not yet seen, by the writer itself; SQLite with
multi-row ``INSERT`` statements of up to 2,048 rows (padded to a power of two).

Bounded like usage, and never lost silently: while the database does not take a batch it stays in
the buffer (the oldest rows first) and the next tick tries again; at most
``REQUEST_LOG_BUFFER_MAX_ROWS`` rows wait, those beyond are dropped, counted in
``akp_request_log_dropped_total`` and logged once per tick. A worker killed without a clean
shutdown loses at most its last interval, as usage does.

Retention (:func:`maintain`, each hour from the timer and by ``manage.py request_log``): rows are
kept ``REQUEST_LOG_DAYS`` UTC days; PostgreSQL drops the partitions of older days (no row-by-row
``DELETE``), SQLite deletes older rows by a range on the ``time`` index.

Never stored: a secret, a header value, a body, a query string value. ``REQUEST_LOG=0`` records
nothing.
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
import threading
import time
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from audit.context import request_id as current_request_id
from keys.errors import ErrorCode
from keys.metering import metrics
from keys.metering.usage import signals_held  # the same rule as usage: see its docstring
from keys.models import RequestLogEntry
from keys.redaction import scrub

log = logging.getLogger(__name__)

# Why a request was refused, when its error code alone does not say it.
WRONG_SECRET = "wrong_secret"  # a Client ID with a secret that is not its key's
DISABLED = "disabled"
EXPIRED = "expired"  # the key expired, or an old secret's grace period ended
IP_NOT_ALLOWED = ErrorCode.IP_NOT_ALLOWED.value  # the two whose code says it: named alike
MISSING_SCOPE = "missing_scope"
RATE_LIMITED = ErrorCode.RATE_LIMITED.value
REASONS = (WRONG_SECRET, DISABLED, EXPIRED, IP_NOT_ALLOWED, MISSING_SCOPE, RATE_LIMITED)

#: A refusal the key middleware cannot see from outside (a scope the view asked for): set by
#: ``keys.api.access.require`` for a key, read and cleared by the middleware when the request ends.
refusal: ContextVar[tuple[str, str] | None] = ContextVar("request_log_refusal", default=None)

COLUMNS = (
    "time",
    "key_id",
    "method",
    "route",
    "path",
    "status",
    "status_class",
    "error_code",
    "reason",
    "detail",
    "client_ip",
    "duration_us",
    "request_id",
    "surface",
    "operation",
    "operation_type",
)
MAX_PATH = RequestLogEntry._meta.get_field("path").max_length or 500
MAX_ROUTE = RequestLogEntry._meta.get_field("route").max_length or 200
UNRESOLVED = ""  # a route the path does not match
GRAPHQL_PATH = "/api/graphql"
# How often the timer creates the partitions ahead and drops or deletes the expired days.
MAINTAIN_EVERY_SECONDS = 3600
PARTITIONS_AHEAD = 2  # days after today
DROP_LOCK_TIMEOUT = "2s"


class RequestLogBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the list itself: held for an append or a swap
        self._flushing = threading.Lock()  # one flush at a time, held for the whole write
        self._rows: list[tuple[Any, ...]] = []
        self._dropped = 0  # since the last report_dropped()

    def record(
        self,
        request: HttpRequest,
        key_id: UUID,
        status: int,
        error_code: str,
        ip: str | None,
        started: float,
        reason: str = "",
        detail: str = "",
    ) -> None:
        """Append one request (the hot path: no formatting here, see :func:`_row`)."""
        if not settings.REQUEST_LOG:
            return
        match = request.resolver_match
        # Set by the GraphQL view only: read from the instance, as getattr() with a default pays for
        # the AttributeError of every other request.
        operation = request.__dict__.get("graphql_operation")
        entry = (
            time.time(),
            key_id,
            request.method,
            None if match is None else match.route,
            request.path_info,
            request.META.get("QUERY_STRING", ""),
            status,
            error_code,
            reason,
            detail,
            ip,
            time.perf_counter() - started,
            current_request_id.get(),
            operation,
        )
        with self._lock:
            if len(self._rows) >= settings.REQUEST_LOG_BUFFER_MAX_ROWS:
                self._dropped += 1
                metrics.request_log_dropped.inc()
                return
            self._rows.append(entry)

    def pending(self) -> int:
        return len(self._rows)

    def report_dropped(self) -> None:
        """Log what was dropped since the last report: one line a tick, never one per request."""
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.error(
                "Request log buffer full (REQUEST_LOG_BUFFER_MAX_ROWS=%s): dropped %s requests the "
                "database could not take in time",
                settings.REQUEST_LOG_BUFFER_MAX_ROWS,
                dropped,
            )

    def flush(self) -> int:
        """Write what is buffered; the number of rows written. Never raises: a batch the database
        does not take goes back into the buffer, within its bound."""
        with signals_held(), self._flushing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                write([_row(entry) for entry in rows])
            except Exception:
                log.exception("Writing the request log failed; keeping its rows for the next flush")
                metrics.request_log_flushes.labels("failed").inc()
                self._put_back(rows)
                return 0
            metrics.request_log_flushes.labels("ok").inc()
            return len(rows)

    def _put_back(self, rows: list[tuple[Any, ...]]) -> None:
        limit = settings.REQUEST_LOG_BUFFER_MAX_ROWS
        with self._lock:
            merged = rows + self._rows  # the oldest first, as they came
            over = max(0, len(merged) - limit)
            if over:
                self._dropped += over
                metrics.request_log_dropped.inc(over)
                merged = merged[:limit]
            self._rows = merged

    def clear(self) -> None:
        with self._lock:
            self._rows = []
            self._dropped = 0


def _row(entry: tuple[Any, ...]) -> tuple[Any, ...]:
    """A buffered request as the table's row (``COLUMNS``), off the request path."""
    (moment, key_id, method, route, path, query, status, code, reason, detail, ip, seconds, rid, op) = entry
    if route is None:
        route = route_of(path)
    path = scrub(path)[:MAX_PATH]
    names = query_names(query)
    if names:
        path = (path + "?" + names)[:MAX_PATH]
    surface = "graphql" if entry[4] == GRAPHQL_PATH else "rest"
    operation, operation_type = op if op else ("", "")
    return (
        datetime.fromtimestamp(moment, UTC),
        key_id,
        (method or "")[:8],
        route[:MAX_ROUTE],
        path,
        status,
        status // 100,
        code or "",
        reason,
        detail[:200],
        ip,
        max(0, round(seconds * 1_000_000)),
        (rid or "")[:128],
        surface,
        (operation or "")[:100],
        operation_type or "",
    )


def route_of(path: str) -> str:
    """The URL pattern of a request refused before Django routed it (a refused key)."""
    try:
        return resolve(path).route or UNRESOLVED
    except Resolver404:
        return UNRESOLVED


NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,40}")


def query_names(query: str) -> str:
    """The query string's parameter names with every value left out (``status=…&days=…``): which
    parameters a call sent, never what it sent in them. A name that is not a plain word (a client
    could put anything there) is left out too."""
    if not query:
        return ""
    names = []
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if NAME.fullmatch(name) and "sk_" not in name and name not in names:
            names.append(name)
    return "&".join(f"{name}=…" for name in names[:20])


# ---- writing ----

TABLE = RequestLogEntry._meta.db_table
_partitions: set[date] = set()  # days whose partition this process saw created (PostgreSQL)


MAX_ROWS_PER_INSERT = 2048  # SQLite: 30,720 parameters (15 a row), within its 32,766


def write(rows: list[tuple[Any, ...]]) -> None:
    if connection.vendor == "postgresql":
        _copy(rows)
    else:
        _insert(rows)


def _copy(rows: list[tuple[Any, ...]]) -> None:
    """One ``COPY`` into the parent table: PostgreSQL routes each row to its day's partition."""
    days = {row[0].date() for row in rows}
    with transaction.atomic():
        ensure_partitions(days - _partitions)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                _copy_rows(cursor, rows)
        except DatabaseError:
            # A partition this process made was rolled back, or another process dropped it: make
            # sure of every day of the batch, then try once more.
            _partitions.difference_update(days)
            ensure_partitions(days)
            with connection.cursor() as cursor:
                _copy_rows(cursor, rows)


def _copy_rows(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    columns = ", ".join(COLUMNS)
    # psycopg 3's COPY: Django's cursor wraps the driver's, whose copy() streams the rows; its
    # errors become Django's, as those of every statement do.
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {TABLE} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert(rows: list[tuple[Any, ...]]) -> None:
    """A batch in as few statements as SQLite's parameter limit allows (one of up to 2,048 rows),
    each in one of a handful of SQL texts: the rows are padded with empty ones up to the next power
    of two, which the statement leaves out (``WHERE column1 IS NOT NULL``: every row has a time).
    ``status_class`` is computed by the statement from ``status``, so that a row takes 15
    parameters and 2,048 rows fit within SQLite's 32,766.

    Why not simpler, measured: a multi-row ``INSERT`` of exactly the batch's size makes a text per
    size, and sqlite3 keeps 128 prepared statements — 128 such texts took 241 MiB (the fault suite's
    load test saw a worker grow 40 MiB in a minute); with the 12 padded texts a process grew 14 MiB
    over batches of every size from 1 to 2,048 rows (SQLite's page cache included) and not at all
    over three more rounds. An
    ``executemany()`` is one text but a statement per row (the benchmark's writes per 1,000 requests
    went from 1.2 to 1,000). Padding costs nothing measurable: 2,000 rows 18–22 ms either way."""
    largest = _largest_padded_insert(len(_SQLITE_VALUES))
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(rows), largest):
            chunk = [_sqlite_values(row) for row in rows[start : start + largest]]
            size = 1 << (len(chunk) - 1).bit_length()
            chunk += [_EMPTY_ROW] * (size - len(chunk))
            cursor.execute(_padded_insert(size), [value for row in chunk for value in row])


# SQLite's statement: every column but status_class as a parameter (the statement computes it).
_SQLITE_VALUES = [name for name in COLUMNS if name != "status_class"]
_CLASS_AT = COLUMNS.index("status_class")
_EMPTY_ROW = (None,) * len(_SQLITE_VALUES)


@functools.cache
def _padded_insert(size: int) -> str:
    """The INSERT of ``size`` rows (a power of two), built once per size."""
    select = ", ".join(
        f"column{_SQLITE_VALUES.index('status') + 1} / 100"
        if name == "status_class"
        else f"column{_SQLITE_VALUES.index(name) + 1}"
        for name in COLUMNS
    )
    one = "(" + ", ".join(["%s"] * len(_SQLITE_VALUES)) + ")"
    # Only constant identifiers are interpolated; every value travels as a parameter.
    return (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) SELECT {select} FROM (VALUES "  # noqa: S608
        + ", ".join([one] * size)
        + ") WHERE column1 IS NOT NULL"
    )


def _largest_padded_insert(parameters_per_row: int) -> int:
    """The most rows a statement takes: 2,048, or the largest power of two within this SQLite's
    parameter limit if that is lower (999 before SQLite 3.32: 32 rows). Asked of the library itself:
    Django's ``max_query_params`` says 999 for every SQLite."""
    connection.ensure_connection()
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return min(MAX_ROWS_PER_INSERT, 1 << (limit // parameters_per_row).bit_length() - 1)


def _sqlite_values(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row as Django's SQLite backend stores its fields: the time as naive UTC text, the key's
    UUID as 32 hex digits; the other columns are text and numbers already. Written out rather than
    through each field's ``get_db_prep_value``, which cost more per row than the rest of the batch
    (the test suite reads these rows back through the model). Without ``status_class``, which the
    statement computes from ``status``."""
    moment, key_id, *rest = row[:_CLASS_AT] + row[_CLASS_AT + 1 :]
    return (str(moment.astimezone(UTC).replace(tzinfo=None)), key_id.hex, *rest)


def partition_name(day: date) -> str:
    return f"{TABLE}_p{day:%Y%m%d}"


def ensure_partitions(days: set[date] | list[date]) -> None:
    """The partitions of these UTC days (PostgreSQL; nothing elsewhere)."""
    if connection.vendor != "postgresql" or not days:
        return
    with connection.cursor() as cursor:
        for day in sorted(days):
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
    _partitions.update(days)


def partitions() -> list[tuple[str, date]]:
    """The day partitions that exist (PostgreSQL), oldest first."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent "
            "JOIN pg_class child ON child.oid = inhrelid WHERE parent.relname = %s",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = re.fullmatch(re.escape(TABLE) + r"_p(\d{8})", name)
        if match:
            found.append((name, datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()))
    return sorted(found, key=lambda item: item[1])


def oldest_kept_day(now: datetime | None = None) -> date:
    """The first UTC day still kept: today and the ``REQUEST_LOG_DAYS - 1`` days before it."""
    today = (now or datetime.now(UTC)).date()
    return today - timedelta(days=settings.REQUEST_LOG_DAYS - 1)


def maintain(now: datetime | None = None) -> dict[str, int]:
    """Create the partitions of today and the next days, and let the expired days go: PostgreSQL
    drops their partitions, SQLite deletes their rows by a range on the ``time`` index. Returns what
    it did: ``{"created": …, "dropped": …, "deleted": …}``."""
    now = now or datetime.now(UTC)
    first_kept = oldest_kept_day(now)
    done = {"created": 0, "dropped": 0, "deleted": 0}
    if connection.vendor == "postgresql":
        wanted = [now.date() + timedelta(days=n) for n in range(PARTITIONS_AHEAD + 1)]
        existing = {day for _, day in partitions()}
        missing = [day for day in wanted if day not in existing]
        ensure_partitions(missing)
        done["created"] = len(missing)
        for name, day in partitions():
            if day < first_kept:
                # Dropping a partition locks its parent for a moment: never queue behind a long
                # reader (and everyone behind us); the next hour tries again.
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
                    cursor.execute(f"DROP TABLE IF EXISTS {name}")
                _partitions.discard(day)
                done["dropped"] += 1
    else:
        cutoff = datetime(first_kept.year, first_kept.month, first_kept.day, tzinfo=UTC)
        done["deleted"], _ = RequestLogEntry.objects.filter(time__lt=cutoff).delete()
    return done


class Maintenance:
    """:func:`maintain` from the timer: at its first tick, then once per ``MAINTAIN_EVERY_SECONDS``."""

    def __init__(self) -> None:
        self._last: float | None = None

    def tick(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < MAINTAIN_EVERY_SECONDS:
            return
        self._last = now
        try:
            maintain()
        except DatabaseError:
            # Another worker did it at the same moment, or the database is away: next hour.
            log.warning("Request log maintenance failed; trying again within the hour", exc_info=True)


buffer = RequestLogBuffer()
maintenance = Maintenance()
