"""What every portal screen shares: one template per screen with named partials, pagination, and
refusals that are audited.

An htmx request gets the named partial (a table, a dialog), any other request the whole page, from
the same template, so every screen also works without JavaScript.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from audit.services import record_denied


def wants_partial(request: HttpRequest) -> bool:
    # A history restore (Back after hx-push-url, cache miss) needs the whole page.
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def render_screen(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    partial_only = wants_partial(request)
    name = f"{template}#{partial}" if partial_only else template
    response = render(request, name, {**context, "is_partial": partial_only})
    # The same URL answers a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


def paginate(request: HttpRequest, items: QuerySet, per_page: int) -> Page:
    # Paginator counts once; get_page clamps a bad or out-of-range ?page= instead of failing.
    page = Paginator(items, per_page).get_page(request.GET.get("page"))
    page.links = list(page.paginator.get_elided_page_range(page.number, on_each_side=1, on_ends=1))
    return page


def refuse(request: HttpRequest, what: str, message: str, key=None) -> PermissionDenied:
    """Every refusal is an audit event before it becomes a 403: ``raise refuse(...)``."""
    record_denied(actor=request.actor, what=what, key=key, details={"path": request.path})
    return PermissionDenied(message)
