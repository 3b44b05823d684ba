"""``{{ moment|when }}`` ("Dec 4, 2026 13:05 UTC"), ``{{ moment|when_seconds }}`` (the same with
seconds) and ``{{ moment|day }}`` ("Dec 4, 2026"): the portal's one way of writing a date, in the
member's time zone. Built in (settings.TEMPLATES). ``request_log_link`` fills a log search address."""

from __future__ import annotations

from urllib.parse import quote

from django import template

from accounts import timezones

register = template.Library()
register.filter("when", timezones.when)
register.filter("day", timezones.day)
register.filter("when_seconds", timezones.when_seconds)


@register.filter
def request_log_link(template: str, request_id: str) -> str:
    """``REQUEST_LOG_SEARCH_URL`` with the request id in place of ``{request_id}`` (URL-quoted)."""
    return template.replace("{request_id}", quote(request_id, safe=""))
