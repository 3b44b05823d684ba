"""An event's details as text people can read: "scopes: a, b · expires at: never", or one line per
detail ("name: Old → New")."""

from __future__ import annotations

from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts import timezones

# Fields a change records as [before, after]: a key's, and the security policy's.
UPDATABLE_FIELDS = (
    "name",
    "description",
    "expires_at",
    "allowed_ips",
    "rotation_policy_days",
    "max_key_lifetime_days",
    "require_ip_allowlist",
    "leak_policy",
)
# Names people read instead of the field's.
LABELS = {
    "allowed_ips": "allowed networks",
    "rotation_policy_days": "rotation period (days)",
    "max_key_lifetime_days": "maximum key lifetime (days)",
    "require_ip_allowlist": "require allowed networks",
    "leak_policy": "leak policy",
}
# How an empty value of these fields reads.
EMPTY_MEANS = {"allowed_ips": "anywhere", "max_key_lifetime_days": "no limit", "description": "none"}
# A yes/no detail that is not a setting switched on or off.
YES_NO = {"found"}


def _is_change(name: str, value: object) -> bool:
    if name not in UPDATABLE_FIELDS or not isinstance(value, list) or len(value) != 2:
        return False
    # A created key's own list of two networks is not a change from one to the other.
    return name != "allowed_ips" or all(isinstance(v, list) for v in value)


# The order details are read in, whatever order the database keeps them in (PostgreSQL's jsonb
# sorts keys by length): what a key is first, then what changed; other details after, as stored.
ORDER = {
    name: position
    for position, name in enumerate(
        (
            "name",
            "description",
            "application",
            "role",
            "account",
            "scopes",
            "expires_at",
            "allowed_ips",
            "rotation_policy_days",
            "max_key_lifetime_days",
            "require_ip_allowlist",
            "leak_policy",
        )
    )
}


def _stopped_at_once(details: dict) -> bool:
    """A regeneration without a grace period: the old secret stopped when the new one was issued
    (its "valid until" is empty because there was no until, not because it never ends)."""
    return details.get("grace_period_seconds") == 0 and details.get("old_secret_valid_until", 0) is None


def describe_details(details: dict) -> str:
    return " · ".join(describe_lines(details))


def describe_lines(details: dict) -> list[str]:
    """One "field: value" (or "field: before → after") per detail, in reading order."""
    details = details or {}
    parts = []
    for name, value in sorted(details.items(), key=lambda item: ORDER.get(item[0], len(ORDER))):
        label = LABELS.get(name) or name.replace("_", " ")
        if _stopped_at_once(details) and name in ("grace_period_seconds", "old_secret_valid_until"):
            if name == "grace_period_seconds":
                parts.append("old secret stopped at once")
            continue
        if name == "grace_period_seconds" and isinstance(value, int):
            label, value = "grace period", duration(value)
        elif _is_change(name, value):
            before, after = (describe_details({name: v}).split(": ", 1)[1] for v in value)
            value = f"{before} → {after}"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or EMPTY_MEANS.get(name, "none")
        elif isinstance(value, bool):
            value = ("yes" if value else "no") if name in YES_NO else ("on" if value else "off")
        elif value is None:
            value = "never" if "expires" in name or "until" in name else EMPTY_MEANS.get(name, "—")
        elif value == "":
            value = EMPTY_MEANS.get(name, "—")
        elif isinstance(value, str) and (moment := parse_datetime(value)) is not None:
            value = timezones.when(moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC))
        parts.append(f"{label}: {value}")
    return parts


def duration(seconds: int) -> str:
    """3600 → "1 hour", 90 → "90 seconds", 0 → "none"."""
    if not seconds:
        return "none"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
