"""Each worker process writes its buffered usage on a timer, off the request path.

One daemon thread per process calls every registered flush (the usage buffer: counts, last use,
recent IPs; the request log's rows, and its partitions and retention once an hour) every
``USAGE_FLUSH_SECONDS``, whether requests come or not, and ``shutdown()`` stops it and flushes one
last time (``atexit``, and gunicorn's ``worker_exit``). The thread has a database connection of its
own (Django's connections are per thread), so a stalled database holds the thread, never a
request.

Fork-safe: a thread does not survive ``fork()``, so ``start()`` is called in the process that
serves (``portal.wsgi`` when the application loads, and gunicorn's ``post_worker_init``); it does
nothing when this process already runs one, and starts a new one in a forked child (the pid differs).

Hand-written rather than a scheduler library: one interval, one thread, and the shutdown flush
must wait for a write in flight (``UsageBuffer.flush`` serializes them).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from keys.metering import requestlog, usage

log = logging.getLogger(__name__)


def _flush_usage(final: bool) -> None:
    usage.buffer.flush(force_last_used=final)
    usage.buffer.report_dropped()


def _flush_request_log(final: bool) -> None:
    requestlog.buffer.flush()
    requestlog.buffer.report_dropped()
    if not final:
        requestlog.maintenance.tick()  # partitions ahead, expired days out: once an hour


# What is flushed each tick and at shutdown: a callable taking ``final`` (True at shutdown).
TASKS: list[Callable[[bool], None]] = [_flush_usage, _flush_request_log]


# How long shutdown waits for the timer thread to end.
JOIN_SECONDS = 5


class Flusher:
    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stop = threading.Event()
        self._guard = threading.Lock()

    def start(self) -> bool:
        """Start this process's timer thread, unless it runs already; True when it started one."""
        with self._guard:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return False
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="usage-flusher", daemon=True
            )
            self._thread.start()
            return True

    def running(self) -> bool:
        return self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(settings.USAGE_FLUSH_SECONDS):
            # This thread's own connection: one broken by a database restart, or older than
            # CONN_MAX_AGE, is replaced, as Django does around a request.
            connection.close_if_unusable_or_obsolete()
            self.tick()
        connection.close()

    def tick(self, *, final: bool = False) -> None:
        for task in TASKS:
            try:
                task(final)
            except Exception:  # a flush never raises; this is a bug, and the thread must live on
                log.exception("A background flush failed")

    def shutdown(self) -> None:
        """Stop the timer and flush what is left (waiting for a write in flight to end first)."""
        self._stop.set()
        self.tick(final=True)
        thread = self._thread
        if thread is not None and self._pid == os.getpid() and thread is not threading.current_thread():
            # It wakes at once from its wait; a write in flight ended before the final tick. Bounded,
            # so that a database that does not answer cannot hold a worker's exit.
            thread.join(timeout=JOIN_SECONDS)


flusher = Flusher()
start = flusher.start
shutdown = flusher.shutdown


def _at_exit() -> None:
    """The one at-exit hook of the buffers: a worker, and a process that never ran the timer (a
    management command, a shell), writes what it counted and logged. Registered when Django loads
    (``keys.apps``)."""
    try:
        flusher.shutdown()
    except Exception:  # the interpreter is going away; never make shutdown fail
        log.exception("Final usage flush failed")


atexit.register(_at_exit)
