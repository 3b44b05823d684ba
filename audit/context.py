"""The id of the request being served, for everything that records what happened during it: the
audit events (``record_event``) and the log lines (``LOG_FORMAT=json``). The request middleware sets
it (``portal.observability``) and returns it as ``X-Request-ID``; outside a request it is empty."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")
