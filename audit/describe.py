"""An event's details as one line people can read: "scopes: a, b · expires at: never"."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime

# Fields an update records as [before, after].
UPDATABLE_FIELDS = ("name", "expires_at")


def describe_details(details: dict) -> str:
    parts = []
    for name, value in (details or {}).items():
        label = name.replace("_", " ")
        if name == "grace_period_seconds" and isinstance(value, int):
            label, value = "grace period", duration(value)
        elif name in UPDATABLE_FIELDS and isinstance(value, list) and len(value) == 2:
            before, after = (describe_details({name: v}).split(": ", 1)[1] for v in value)
            value = f"{before} → {after}"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "none"
        elif value is None:
            value = "never" if "expires" in name or "until" in name else "—"
        elif isinstance(value, str) and (moment := parse_datetime(value)) is not None:
            if timezone.is_aware(moment):
                moment = moment.astimezone(UTC)
            value = moment.strftime("%b %-d, %Y %H:%M UTC")
        parts.append(f"{label}: {value}")
    return " · ".join(parts)


def duration(seconds: int) -> str:
    """3600 → "1 hour", 90 → "90 seconds", 0 → "none"."""
    if not seconds:
        return "none"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
