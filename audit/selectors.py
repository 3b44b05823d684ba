"""Reading the audit log, narrowed by the access policy, one page at a time at any depth."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts import permissions
from accounts.actors import Actor
from audit.models import AuditEvent
from paging import NEXT, PREVIOUS, BadCursor, Keyset, capped_count, keyset_page, rows_at

#: Newest first, the id breaking ties: the order of every index the log is read through.
EVENT_ORDER = Keyset("-occurred_at", "-id")
#: The log counts up to this many events ("more than 1,000 events"): counting two million would
#: read two million. Numbered pages reach as far; older pages are reached with their cursors.
COUNT_CAP = 1_000


def visible_events(actor: Actor) -> QuerySet[AuditEvent]:
    """Events of the actor's organization and account subtrees, none about a key it may not see."""
    return AuditEvent.objects.filter(permissions.event_filter(actor))


def cursor_after(event: AuditEvent) -> str:
    """The cursor of the page that starts right after ``event`` (what that page's Older link holds)."""
    return EVENT_ORDER.cursor(NEXT, event)


@dataclass(frozen=True)
class EventPage:
    """A page of the log. ``total`` is None when there are more than ``COUNT_CAP`` events; ``start``
    (1-based) and ``number`` are known for numbered pages, not for a page reached by its cursor."""

    events: list[AuditEvent]
    total: int | None
    size: int
    start: int | None = None
    number: int | None = None
    next: str | None = None
    previous: str | None = None
    #: The cursor asked for was not one this log hands out: this is the first page instead.
    ignored_cursor: bool = False

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + len(self.events) - 1

    @property
    def count_label(self) -> str:
        return f"more than {COUNT_CAP:,}" if self.total is None else str(self.total)

    @property
    def num_pages(self) -> int | None:
        """Pages reachable by number: all of them while the count is known."""
        return None if self.total is None else max(1, -(-self.total // self.size))

    @property
    def last_numbered_page(self) -> int:
        """All pages while the count is known; else the pages that start within the cap."""
        return self.num_pages or -(-COUNT_CAP // self.size)


def page_of_events(
    events: QuerySet[AuditEvent], *, size: int, number: int = 1, cursor: str | None = None, last: bool = False
) -> EventPage:
    """The page ``cursor`` points to, else the ``last`` (oldest) page, else page ``number`` (up to
    the last numbered page; a number beyond it shows that page). A cursor this log did not hand
    out shows the first page. Two or three queries, whatever the depth: the capped count, and the
    page (by cursor, or the keys of the skipped rows then the page's rows)."""
    total = capped_count(events, COUNT_CAP)
    ignored = False
    if cursor:
        try:
            found = keyset_page(events, EVENT_ORDER, size=size, cursor=cursor)
        except BadCursor:
            ignored = True
        else:
            if found.is_first:  # a "newer" cursor that reached the top: that is page 1
                return EventPage(found.rows, total, size, start=1, number=1, next=found.next)
            return EventPage(found.rows, total, size, next=found.next, previous=found.previous)
    if last:
        found = keyset_page(events, EVENT_ORDER, size=size, last=True)
        start = None if total is None else total - len(found.rows) + 1
        last_number = None if total is None else max(1, -(-total // size))
        return EventPage(found.rows, total, size, start=start, number=last_number, previous=found.previous)
    page = EventPage([], total, size)
    number = max(1, min(number, page.last_numbered_page))
    if number == 1 or ignored:
        found = keyset_page(events, EVENT_ORDER, size=size)
        return EventPage(found.rows, total, size, start=1, number=1, next=found.next, ignored_cursor=ignored)
    offset = (number - 1) * size
    rows = rows_at(events.order_by(*EVENT_ORDER.order_by()), offset, size)
    more = total is None or offset + len(rows) < total
    return EventPage(
        rows,
        total,
        size,
        start=offset + 1,
        number=number,
        next=EVENT_ORDER.cursor(NEXT, rows[-1]) if rows and more else None,
        previous=EVENT_ORDER.cursor(PREVIOUS, rows[0]) if rows else None,
    )
