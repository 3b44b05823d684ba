"""Background tasks in tests: which backend, and the real worker run until the queue is empty."""

from __future__ import annotations

import signal
from io import StringIO

from django.core.management import call_command

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
DATABASE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def run_worker(*args: str) -> str:
    """``manage.py db_worker --batch`` in this process: it runs every task that is ready, then
    returns what it printed. The worker takes SIGINT and SIGTERM over to stop gracefully; they are
    given back to pytest afterwards."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    out = StringIO()
    try:
        call_command(
            "db_worker", "--batch", "--no-reload", "--no-startup-delay", "--interval", "0", *args, stdout=out
        )
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return out.getvalue()
