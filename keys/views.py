"""Portal pages for API keys (placeholder until the portal issue lands; permission-checked already)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts import permissions
from keys import selectors
from keys.actors import Actor
from keys.services import KeyNotFound


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_user(request.user)


@require_GET
def key_list(request: HttpRequest) -> HttpResponse:
    if not permissions.can_view_keys(request.user):
        raise PermissionDenied("Your role cannot see API keys.")
    keys = selectors.visible_keys(_actor(request)).select_related("application", "account")[:50]
    return render(request, "keys/key_list.html", {"keys": keys})


@require_GET
def key_detail(request: HttpRequest, key_id: str) -> HttpResponse:
    if not permissions.can_view_keys(request.user):
        raise PermissionDenied("Your role cannot see API keys.")
    try:
        key = selectors.get_visible_key(_actor(request), key_id)
    except KeyNotFound:
        raise Http404("No such key") from None
    return render(request, "keys/key_detail.html", {"key": key})


@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    if not permissions.can_view_audit_log(request.user):
        raise PermissionDenied("Your role cannot see the audit log.")
    events = selectors.visible_audit_events(_actor(request)).select_related("key")[:100]
    return render(request, "keys/audit_log.html", {"events": events})
