"""The id of the request being served, for everything that records what happened during it: the
audit events (``record_event``) and the log lines (``LOG_FORMAT=json``). The request middleware sets
it (``portal.observability``) and returns it as ``X-Request-ID``; outside a request it is empty."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

request_id: ContextVar[str] = ContextVar("request_id", default="")

# When the events recorded now happened, if not now: only history written afterwards (the demo's
# keys, created "64 days ago") sets it. A request never does.
happened_at: ContextVar[datetime | None] = ContextVar("happened_at", default=None)


@contextmanager
def as_of(moment: datetime) -> Iterator[None]:
    """Events recorded inside are dated ``moment``: for history written afterwards, never a request."""
    token = happened_at.set(moment)
    try:
        yield
    finally:
        happened_at.reset(token)
