"""The database as web requests use it: on PostgreSQL, a statement that runs longer than
``DATABASE_STATEMENT_TIMEOUT_SECONDS`` (5 s unless set) is cancelled.

A few slow requests would otherwise hold every worker (two, by default) while health checks and
everyone else wait behind them. A cancelled statement raises ``OperationalError``, which becomes
the API's 503 ``service_unavailable`` body and the portal's "try again" page (``portal.views``).

Set once per database connection (connections are kept for ``CONN_MAX_AGE``), in the processes
that serve requests only: ``portal.wsgi`` installs it. Migrations and management commands, which
may rightly run longer, are not limited.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


def limit_statement_time(
    sender: object = None, connection: BaseDatabaseWrapper | None = None, **kwargs: Any
) -> None:
    """``connection_created`` receiver: the timeout on a new PostgreSQL connection (0: none)."""
    milliseconds = int(settings.DATABASE_STATEMENT_TIMEOUT_SECONDS * 1000)
    if connection is None or connection.vendor != "postgresql" or milliseconds <= 0:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{milliseconds}ms"])


def limit_statement_time_of_requests() -> None:
    connection_created.connect(limit_statement_time, dispatch_uid="portal.database.limit_statement_time")
