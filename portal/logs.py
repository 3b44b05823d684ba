"""``LOG_FORMAT=json``: one JSON object per log line, for log pipelines.

Loaded while Django configures logging, before the apps are ready: it imports no model.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from audit.context import request_id as current_request_id
from keys.redaction import scrub


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and the request's
    fields when the line describes one. Secrets are scrubbed from the message and any traceback."""

    FIELDS = ("surface", "method", "route", "status", "duration_ms", "key_id")

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            # A line written after the request (gunicorn's access line) carries its own.
            "request_id": getattr(record, "request_id", None) or current_request_id.get() or None,
        }
        entry.update({name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


# Where the request observer leaves what it learned about a request for gunicorn's access line (the
# WSGI environ is Django's request.META): gunicorn logs after the answer, outside the request's
# context, and knows neither the route template nor the key.
ENVIRON_KEY = "akp.request"


def access_fields(environ: dict, status: int, duration_ms: float) -> dict:
    """The fields of gunicorn's JSON access line: those of the application's request line."""
    seen = environ.get(ENVIRON_KEY) or {}
    return {
        "request_id": seen.get("request_id"),
        "surface": seen.get("surface"),
        "method": seen.get("method") or environ.get("REQUEST_METHOD"),
        "route": seen.get("route"),
        "status": status,
        "duration_ms": duration_ms,
        "key_id": seen.get("key_id"),
    }
