"""``{{ moment|when }}`` ("Dec 4, 2026 13:05 UTC") and ``{{ moment|day }}`` ("Dec 4, 2026"): the
portal's one way of writing a date, in the member's time zone. Built in (settings.TEMPLATES)."""

from __future__ import annotations

from django import template

from accounts import timezones

register = template.Library()
register.filter("when", timezones.when)
register.filter("day", timezones.day)
