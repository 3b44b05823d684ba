"""Settings → Audit log: every event the member may see, newest first, filterable.

Pages: ``?page=N`` while the count is known (up to ``COUNT_CAP`` events), ``?page=last`` for the
oldest, and ``?cursor=…`` for the Newer and Older links: a cursor page costs the same at any depth,
and an event written meanwhile neither pushes a row onto the next page twice nor hides one.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from accounts import permissions
from accounts.actors import MemberRequest
from audit.selectors import EventPage, page_of_events, visible_events
from pages import refuse, render_screen
from portal.audit_log.filters import AuditEventFilterSet

EVENTS_PER_PAGE = 50
IGNORED_CURSOR = (
    "That link does not point into this log (it was changed or cut short): showing the newest events."
)


def _number(value: str | None) -> int:
    try:
        return int(value or 1)
    except ValueError:
        return 1


def _links(page: EventPage) -> list:
    """Page numbers around the current one, with gaps ("1 2 3 … 9"), as far as numbers reach; none
    on a page reached by its cursor."""
    pages = page.last_numbered_page
    if pages < 2 or page.number is None:
        return []
    numbers = Paginator(range(pages * page.size), page.size)  # a range: counts nothing
    return list(numbers.get_elided_page_range(page.number, on_each_side=1, on_ends=1))


@require_GET
def audit_log(request: MemberRequest) -> HttpResponse:
    actor = request.actor
    if not permissions.can_view_audit_log(actor):
        raise refuse(request, "view audit log", "Your role cannot see the audit log.")
    events = visible_events(actor).select_related("key", "account")
    filters = AuditEventFilterSet(request.GET, events, actor=actor)
    wanted = request.GET.get("page")
    page = page_of_events(
        filters.qs,
        size=EVENTS_PER_PAGE,
        number=_number(wanted) if wanted != "last" else 1,
        cursor=request.GET.get("cursor"),
        last=wanted == "last",
    )
    if page.ignored_cursor:
        messages.warning(request, IGNORED_CURSOR)
    context = {
        "filters": filters.form,
        "page": page,
        "events": page.events,
        "links": _links(page),
        "ellipsis": Paginator.ELLIPSIS,
    }
    return render_screen(request, "audit/audit_log.html", "audit-table", context)
