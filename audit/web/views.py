"""Settings → Audit log: every event the member may see, newest first, filterable."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from accounts import permissions
from audit.selectors import visible_events
from audit.web.filters import AuditEventFilterSet
from portal.pages import paginate, refuse, render_screen

EVENTS_PER_PAGE = 50


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    actor = request.actor
    if not permissions.can_view_audit_log(actor):
        raise refuse(request, "view audit log", "Your role cannot see the audit log.")
    events = visible_events(actor).select_related("key", "account").order_by("-occurred_at", "-id")
    filters = AuditEventFilterSet(request.GET, events)
    page = paginate(request, filters.qs, EVENTS_PER_PAGE)
    context = {"filters": filters.form, "page": page, "events": page.object_list}
    return render_screen(request, "audit/audit_log.html", "audit-table", context)
