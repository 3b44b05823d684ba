"""How the portal writes a moment, and in which time zone: one format everywhere, "Dec 4, 2026
13:05 UTC", in the member's own time zone (UTC unless they chose another on the Password page)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from functools import cache

from django.utils import dateformat, timezone

DEFAULT_TIME_ZONE = "UTC"
# Django's date format: month, day, year, 24-hour time and the zone's abbreviation.
WHEN_FORMAT = "M j, Y H:i T"
DAY_FORMAT = "M j, Y"


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zones a member may choose, "UTC" first, then alphabetical."""
    names = sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/"))
    )
    return (DEFAULT_TIME_ZONE, *names)


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


def when(moment: datetime | None) -> str:
    """``moment`` in the active time zone, "Dec 4, 2026 13:05 UTC"; "" for none."""
    if moment is None:
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return dateformat.format(moment, WHEN_FORMAT)


def when_seconds(moment: datetime | None) -> str:
    """``when`` to the second, "Dec 4, 2026 13:05:07 UTC": for a log of requests."""
    if moment is None:
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return dateformat.format(moment, WHEN_FORMAT.replace("H:i", "H:i:s"))


def day(moment: datetime | None) -> str:
    """The day of ``moment`` in the active time zone, "Dec 4, 2026"; "" for none."""
    if moment is None:
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return dateformat.format(moment, DAY_FORMAT)


def when_utc(moment: datetime) -> str:
    """``moment`` in UTC, "Dec 4, 2026 03:17 UTC": for text stored once and read by everyone."""
    with timezone.override(DEFAULT_TIME_ZONE):
        return when(moment)
