"""The database as web requests use it: on PostgreSQL, a statement that runs longer than
``DATABASE_STATEMENT_TIMEOUT_SECONDS`` (5 s unless set) is cancelled, and the planner prices a
random page read at ``DATABASE_RANDOM_PAGE_COST`` (1.1 unless set).

The planner's default (4.0) prices a page as if read from a spinning disk; the portal's lists are
walks of indexes built for them, on data that sits in memory or on SSDs. At 100,000 keys the API
list's exact ``total`` for ``exposed=false`` read the whole table (57 ms) where an index-only walk
takes 25 ms, and for ``status=active`` 55 → 25 ms (docs/benchmarks.md). 1.1 is the usual value for
SSDs and cached data; 0 leaves the server's setting.

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
    """``connection_created`` receiver: the timeout (0: none) and the planner's random page cost
    (0: the server's) on a new PostgreSQL connection, in one statement."""
    if connection is None or connection.vendor != "postgresql":
        return
    settings_to_set = []
    milliseconds = int(settings.DATABASE_STATEMENT_TIMEOUT_SECONDS * 1000)
    if milliseconds > 0:
        settings_to_set.append(("statement_timeout", f"{milliseconds}ms"))
    if settings.DATABASE_RANDOM_PAGE_COST > 0:
        settings_to_set.append(("random_page_cost", str(settings.DATABASE_RANDOM_PAGE_COST)))
    if not settings_to_set:
        return
    calls = ", ".join("set_config(%s, %s, false)" for _ in settings_to_set)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {calls}", [value for pair in settings_to_set for value in pair])


def limit_statement_time_of_requests() -> None:
    connection_created.connect(limit_statement_time, dispatch_uid="portal.database.limit_statement_time")
