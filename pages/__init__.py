"""What every portal screen shares: one template per screen with named partials, pagination, and
refusals that are audited.

An htmx request gets the named partial (a table, a dialog), any other request the whole page, from
the same template, so every screen also works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from accounts.actors import ActorRequest
from audit.services import refuse as audited
from paging import COUNT_CAP, INTEGER_RANGE, capped_count, rows_at


def wants_partial(request: HttpRequest) -> bool:
    # A history restore (Back after hx-push-url, cache miss) needs the whole page.
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    return not htmx.history_restore_request


def render_screen(request: HttpRequest, template: str, partial: str, context: dict) -> HttpResponse:
    partial_only = wants_partial(request)
    name = f"{template}#{partial}" if partial_only else template
    response = render(request, name, {**context, "is_partial": partial_only})
    # The same URL answers a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@dataclass
class NumberedPage:
    """A numbered page of a list whose count is capped: ``count`` is None when the list holds more
    than the cap ("more than 10,000"), and then the page numbers reach one past the current page.
    A page beyond the first reads the primary keys of the rows it skips (from an index that matches
    the order, where there is one) before its own rows: page 3,000 of 100,000 keys costs a few
    milliseconds, not a sort of the whole table."""

    object_list: list
    number: int
    per_page: int
    count: int | None
    cap: int
    has_next: bool
    ELLIPSIS = Paginator.ELLIPSIS

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.object_list else 0

    @property
    def end_index(self) -> int:
        return self.start_index + len(self.object_list) - 1

    @property
    def count_label(self) -> str:
        return f"more than {self.cap:,}" if self.count is None else str(self.count)

    @property
    def links(self) -> list:
        """Page numbers around this one, with gaps ("1 … 4 5 6 … 9"); while the count is unknown,
        up to the next page, then a gap."""
        known = self.count if self.count is not None else (self.number + self.has_next) * self.per_page
        pages = Paginator(range(known), self.per_page)  # a range: counts nothing
        found = list(pages.get_elided_page_range(self.number, on_each_side=1, on_ends=1))
        return [*found, self.ELLIPSIS] if self.count is None and self.has_next else found


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


def paginate(
    request: HttpRequest, items: QuerySet, per_page: int, *, cap: int = COUNT_CAP, ids_first: bool = False
) -> NumberedPage:
    """The page ``?page=`` asks for, counting at most ``cap`` rows. A bad number shows the first page
    and one past the end the last (or the first, when the count is capped). ``ids_first``: the first
    page too is read as its primary keys, then its rows (``paging.keyset_page`` says when that is
    cheaper); deeper pages always are."""
    count = capped_count(items, cap)
    number = _page_number(request.GET.get("page"))
    if count is not None:
        number = min(number, max(1, -(-count // per_page)))
    number = min(number, INTEGER_RANGE[-1] // per_page)  # an offset the database can still take
    offset = (number - 1) * per_page
    if offset == 0 and not ids_first:
        rows = list(items[: per_page + 1])
    else:
        rows = rows_at(items, offset, per_page + 1)
    if not rows and number > 1:  # beyond the end of a list too long to count
        number, rows = 1, rows_at(items, 0, per_page + 1) if ids_first else list(items[: per_page + 1])
    return NumberedPage(rows[:per_page], number, per_page, count, cap, has_next=len(rows) > per_page)


def refuse(request: ActorRequest, what: str, message: str, key: Any = None) -> PermissionDenied:
    """Every refusal is an audit event before it becomes a 403: ``raise refuse(...)``."""
    error = PermissionDenied(message)
    return audited(error, actor=request.actor, what=what, key=key, details={"path": request.path})
