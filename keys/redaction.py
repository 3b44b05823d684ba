"""Keeping Client Secrets out of exception reports and log lines.

Secrets have a fixed shape (``keys.credentials.SECRET_SCAN_PATTERN``), so anything of that shape
is replaced wherever a report or a log line could carry it: frame variables, request data,
exception messages and formatted log messages.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

from keys.credentials import SECRET_RE

REDACTED = "sk_…[redacted]"


def scrub(text: str) -> str:
    return SECRET_RE.sub(REDACTED, text) if "sk_" in text else text


class SecretScrubbingReporterFilter(SafeExceptionReporterFilter):
    """Django's filter (hides settings, cookies and Authorization/X-API-Key headers) plus any
    secret-shaped string in frame variables and POST data."""

    def get_traceback_frame_variables(  # type: ignore[override]  # Django only iterates the pairs
        self, request: HttpRequest | None, tb_frame: Any
    ) -> list[tuple[str, Any]]:
        return [
            (name, _Scrubbed(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def get_post_parameters(self, request: HttpRequest | None) -> Any:
        params = super().get_post_parameters(request)
        if not params:
            return params
        cleaned = params.copy()
        for key in list(cleaned):
            cleaned[key] = scrub(str(cleaned[key]))
        return cleaned


class _Scrubbed:
    """Renders a frame variable with secrets replaced (the reporter calls repr via pprint)."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        try:
            return scrub(repr(self.value))
        except Exception:  # a broken __repr__ must not break the error report
            return "<unrepresentable>"


class ScrubSecretsFilter(logging.Filter):
    """A logging filter: formats the message once and replaces secret-shaped strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
