"""Counting what keys do without a database write per request.

Each process keeps a buffer: per key and UTC day, counters by outcome; per key, when it was last
used and from which addresses. A request only adds to it, under a lock held for a few dictionary
operations; it never writes and never waits for the database. The buffer is written in one batch (an
``INSERT … ON CONFLICT DO UPDATE`` that adds to the day's row) every ``USAGE_FLUSH_SECONDS`` (5 s)
by each worker's timer thread (``keys.metering.flusher``), whether requests come or not, and on a
clean shutdown (``atexit`` and gunicorn's ``worker_exit``). ``last_used_at`` and the recent IPs of a
key are written at most once per ``LAST_USED_WRITE_INTERVAL_SECONDS`` (60 s) per process.

While the database cannot take a batch (down, locked, slow), it stays in the buffer and the next
tick tries again; the buffer holds at most ``USAGE_BUFFER_MAX_ROWS`` counters (one per key and day)
and as many keys' last use. A call that would need one more is dropped: counted in
``akp_usage_dropped_total`` and logged by the next tick, never silently lost, never a blocked answer.

Bound on loss: a worker killed without a clean shutdown (SIGKILL, OOM) loses at most the counts of
its last flush interval. Counting never fails a request: a failed flush is logged and its counts are
kept for the next try. Two flushes never overlap (the final one waits for the timer's write in
flight). gunicorn's signals (``tests/faults`` proves each with a sync worker):

- SIGTERM (graceful stop) and SIGHUP (reload: new workers start, the old ones get SIGTERM) lose
  nothing: a worker finishes its request, leaves its loop and flushes in ``worker_exit``.
- SIGQUIT and SIGINT (quick shutdown) lose nothing either: the worker raises ``SystemExit`` wherever
  it is, then flushes in ``worker_exit``. A flush in the main thread holds those two signals until
  its write is done: interrupted, the write would roll back with its batch already out of the
  buffer (the timer thread is never interrupted: Python runs handlers in the main thread). A request
  cut by a quick shutdown may be counted although its client got an error.
- SIGABRT (gunicorn's worker timeout, followed by SIGKILL) is not held: a worker stuck that long
  loses its buffer, within the bound above.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction

from keys.metering import metrics
from keys.models import ApiKey, KeyUsageDay

log = logging.getLogger(__name__)

# Counter columns of KeyUsageDay, in this order.
FIELDS = ("total", "success", "client_errors", "denied", "rate_limited", "server_errors")
RECENT_IPS = 5
# Signals whose Python handlers raise wherever the main thread is: KeyboardInterrupt and gunicorn's
# quick shutdown (SystemExit). Not SIGABRT, gunicorn's worker timeout: the master follows it with
# SIGKILL about a second later, so holding it would only trade the timeout's traceback and
# worker_abort hook for a kill, and a flush stuck in the database should end as the timeout says.
HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGQUIT") if hasattr(signal, name))


def outcome_index(status: int) -> int:
    if status == 429:
        return 4
    if status in (401, 403):
        return 3
    if status >= 500:
        return 5
    if status >= 400:
        return 2
    return 1


class UsageBuffer:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # the buffer itself: held for a few dictionary operations
        self._flushing = threading.Lock()  # one flush at a time, held for the whole write
        self._counts: dict[tuple[UUID, date], list[int]] = defaultdict(lambda: [0] * len(FIELDS))
        self._seen: dict[UUID, tuple[datetime, dict[str, datetime]]] = {}
        self._last_used_written: dict[UUID, float] = {}
        self._oldest: float | None = None  # Unix time of the oldest count waiting, for /metrics
        self._dropped = {"calls": 0, "last_used": 0}  # since the last report_dropped()

    def record(self, key_id: UUID, status: int, ip: str | None, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        limit = settings.USAGE_BUFFER_MAX_ROWS
        with self._lock:
            row = self._counts.get((key_id, now.date()))
            if row is None:  # a new counter waits for the next flush
                if len(self._counts) >= limit:
                    self._drop("calls")
                else:
                    row = self._counts[(key_id, now.date())]
                    metrics.usage_pending_rows.set(len(self._counts))
                    if self._oldest is None:
                        self._oldest = time.time()
                        metrics.usage_oldest_pending.set(self._oldest)
            if row is not None:
                row[0] += 1
                row[outcome_index(status)] += 1
            seen = self._seen.get(key_id)
            if seen is None and len(self._seen) >= limit:
                self._drop("last_used")
                return
            last, ips = seen or (now, {})
            if ip:
                ips[ip] = now
                if len(ips) > RECENT_IPS:
                    for old in sorted(ips, key=ips.__getitem__)[: len(ips) - RECENT_IPS]:
                        del ips[old]
            self._seen[key_id] = (max(last, now), ips)

    def _drop(self, what: str) -> None:
        """Called holding the lock: one call (or one last-use update) that found the buffer full."""
        self._dropped[what] += 1
        metrics.usage_dropped[what].inc()

    def report_dropped(self) -> None:
        """Log what was dropped since the last report (the flusher calls it each tick): one line, not
        one per call, so that a full buffer cannot flood the log."""
        with self._lock:
            dropped, self._dropped = self._dropped, {"calls": 0, "last_used": 0}
        if any(dropped.values()):
            log.error(
                "Usage buffer full (USAGE_BUFFER_MAX_ROWS=%s): dropped %s calls and %s last-use updates "
                "the database could not take in time",
                settings.USAGE_BUFFER_MAX_ROWS,
                dropped["calls"],
                dropped["last_used"],
            )

    def flush(self, *, force_last_used: bool = False) -> int:
        """Write what is buffered; returns the number of requests written. Never raises, but a held
        signal (see signals_held) is delivered once the write is done, and its handler may raise."""
        with signals_held(), self._flushing:
            return self._flush(force_last_used=force_last_used)

    def _flush(self, *, force_last_used: bool) -> int:
        now_mono = time.monotonic()
        with self._lock:
            counts = dict(self._counts)
            self._counts.clear()
            oldest, self._oldest = self._oldest, None
            interval = settings.LAST_USED_WRITE_INTERVAL_SECONDS
            due = {
                key_id: seen
                for key_id, seen in self._seen.items()
                if force_last_used or now_mono - self._last_used_written.get(key_id, -1e12) >= interval
            }
            for key_id in due:
                del self._seen[key_id]
                self._last_used_written[key_id] = now_mono
        if not counts and not due:
            return 0
        try:
            with transaction.atomic():
                _write_counts(counts)
                _write_last_used(due)
        except Exception:
            log.exception("Writing usage counters failed; keeping them for the next flush")
            metrics.usage_flushes.labels("failed").inc()
            self._put_back(counts, due, oldest)
            return 0
        metrics.usage_flushes.labels("ok").inc()
        with self._lock:
            self._publish_pending()
        return sum(row[0] for row in counts.values())

    def _put_back(
        self,
        counts: dict[tuple[UUID, date], list[int]],
        due: dict[UUID, tuple[datetime, dict[str, datetime]]],
        oldest: float | None,
    ) -> None:
        """A batch the database did not take goes back into the buffer, within its bound."""
        limit = settings.USAGE_BUFFER_MAX_ROWS
        with self._lock:
            for k, row in counts.items():
                mine = self._counts.get(k)
                if mine is None:
                    if len(self._counts) >= limit:
                        self._dropped["calls"] += row[0]
                        metrics.usage_dropped["calls"].inc(row[0])
                        continue
                    mine = self._counts[k]
                for i, value in enumerate(row):
                    mine[i] += value
            for key_id, (last, ips) in due.items():
                self._last_used_written.pop(key_id, None)
                if key_id not in self._seen and len(self._seen) >= limit:
                    self._drop("last_used")
                    continue
                self._seen.setdefault(key_id, (last, ips))
            if self._counts:
                self._oldest = min(filter(None, (oldest, self._oldest)), default=None)
            self._publish_pending()

    def _publish_pending(self) -> None:
        """The gauges of what still waits; called holding the lock."""
        metrics.usage_pending_rows.set(len(self._counts))
        metrics.usage_oldest_pending.set(math.inf if self._oldest is None else self._oldest)

    def clear(self) -> None:
        """Forget everything buffered."""
        with self._lock:
            self._counts.clear()
            self._seen.clear()
            self._last_used_written.clear()
            self._oldest = None
            self._dropped = {"calls": 0, "last_used": 0}
            self._publish_pending()


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold HELD_SIGNALS back while the block runs, then deliver them.

    Python runs signal handlers in the main thread only, between two bytecodes or inside a blocking
    call (e.g. psycopg waiting for the server): a handler that raises there ends the block halfway.
    Signals without a Python handler (default action, ignored) are left alone, as are other threads:
    no handler ever interrupts them.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    try:
        with _blocked(HELD_SIGNALS):  # no handler runs halfway through the swap
            for sig in HELD_SIGNALS:
                handler = signal.getsignal(sig)
                if callable(handler):
                    held[sig] = handler
                    signal.signal(sig, lambda signum, frame: caught.append(signum))
        yield
    finally:
        with _blocked(HELD_SIGNALS):
            for sig, handler in held.items():
                signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)  # runs the restored handler now


@contextmanager
def _blocked(signals: tuple[int, ...]) -> Iterator[None]:
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_counts(counts: dict[tuple[UUID, date], list[int]]) -> None:
    if not counts:
        return
    table = connection.ops.quote_name(KeyUsageDay._meta.db_table)
    pk_field = ApiKey._meta.pk
    columns = ", ".join(FIELDS)
    updates = ", ".join(f"{f} = {table}.{f} + excluded.{f}" for f in FIELDS)
    placeholders = ", ".join(["%s"] * (2 + len(FIELDS)))
    # Only constant identifiers are interpolated; every value travels as a parameter.
    sql = f"INSERT INTO {table} (key_id, day, {columns}) VALUES ({placeholders}) "  # noqa: S608
    sql += f"ON CONFLICT (key_id, day) DO UPDATE SET {updates}"
    rows = [
        [pk_field.get_db_prep_value(key_id, connection), day, *values]
        for (key_id, day), values in counts.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _write_last_used(due: dict[UUID, tuple[datetime, dict[str, datetime]]]) -> None:
    if not due:
        return
    current = dict(ApiKey.objects.filter(pk__in=list(due)).values_list("pk", "recent_ips"))
    for key_id, (last, ips) in due.items():
        if key_id not in current:
            continue
        merged: dict[str, str] = {e["ip"]: e["seen"] for e in current[key_id] or [] if "ip" in e}
        for ip, seen in ips.items():
            merged[ip] = max(merged.get(ip, ""), seen.isoformat(timespec="microseconds"))
        newest = sorted(merged.items(), key=lambda item: item[1], reverse=True)[:RECENT_IPS]
        ApiKey.objects.filter(pk=key_id).update(
            last_used_at=last, recent_ips=[{"ip": ip, "seen": seen} for ip, seen in newest]
        )


buffer = UsageBuffer()
