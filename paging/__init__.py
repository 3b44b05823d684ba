"""Paging through long lists whatever their length: keyset (cursor) pages, capped counts, and offset
pages that read only the keys of the rows they skip.

Below every app (it imports Django only): the audit log, the key lists of the portal, REST and
GraphQL all page with it.

* **Keyset pages** (:func:`keyset_page`): "the 50 rows after this one" is a range condition on the
  sort columns, answered by an index in the time of one page, at any depth, and a row inserted
  meanwhile is neither skipped nor shown twice (an offset would shift under it). A cursor is
  opaque to clients: the sort values of the row it points at, and the direction.
* **Capped counts** (:func:`capped_count`): counting a million rows costs a scan of a million rows;
  counting up to ``cap`` and saying "more than 10,000" costs at most ``cap``.
* **Offset pages** (:func:`rows_at`): what a page number or ``offset`` asks. The skipped rows are
  read as primary keys only (an index-only scan where an index matches the order), then the page's
  own rows by those keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from operator import and_, or_
from typing import Any, Generic, TypeVar

from django.db.models import Field, ForeignObjectRel, Model, Q, QuerySet
from django.utils.dateparse import parse_datetime

T = TypeVar("T", bound=Model)

NEXT = "n"
PREVIOUS = "p"
#: Lists count up to this many rows, then say "more than 10,000" (the portal's lists).
COUNT_CAP = 10_000


class BadCursor(ValueError):
    """A cursor this list did not hand out (mangled, or from another list)."""


@dataclass(frozen=True)
class Keyset:
    """A total order on non-null columns, the last one unique: ``Keyset("-occurred_at", "-id")``."""

    fields: tuple[str, ...]

    def __init__(self, *fields: str) -> None:
        object.__setattr__(self, "fields", tuple(fields))

    @property
    def names(self) -> list[str]:
        return [f.lstrip("-") for f in self.fields]

    def order_by(self, reverse: bool = False) -> list[str]:
        if not reverse:
            return list(self.fields)
        return [f[1:] if f.startswith("-") else f"-{f}" for f in self.fields]

    def values_of(self, row: Model) -> list[Any]:
        return [getattr(row, "pk" if name in ("id", "pk") else name) for name in self.names]

    def beyond(self, values: Sequence[Any], reverse: bool = False) -> Q:
        """Rows after ``values`` in this order (before them when ``reverse``). The first column also
        gets a plain range condition, which an index on the order can seek to."""
        comparisons = []
        for field in self.order_by(reverse):
            descending = field.startswith("-")
            comparisons.append((field.lstrip("-"), "lt" if descending else "gt"))
        strictly = []
        for i, (name, lookup) in enumerate(comparisons):
            equal = [Q(**{comparisons[j][0]: values[j]}) for j in range(i)]
            strictly.append(reduce(and_, [*equal, Q(**{f"{name}__{lookup}": values[i]})]))
        first, lookup = comparisons[0]
        return Q(**{f"{first}__{lookup}e": values[0]}) & reduce(or_, strictly)

    # ---- cursors: opaque to clients ----

    def cursor(self, direction: str, row: Model) -> str:
        values = [_plain(v) for v in self.values_of(row)]
        raw = json.dumps([direction, *values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def parse(self, cursor: str, model: type[Model]) -> tuple[str, list[Any]]:
        """The direction and the typed sort values of a cursor this list handed out, or
        :class:`BadCursor` for anything else: every value must have exactly the type and range of
        its column, as a value a client edited in could otherwise reach the database as one it
        cannot compare (a 500)."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            decoded = json.loads(raw)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as err:
            raise BadCursor(cursor) from err
        if not isinstance(decoded, list) or len(decoded) != len(self.fields) + 1:
            raise BadCursor(cursor)
        direction, *values = decoded
        if direction not in (NEXT, PREVIOUS):
            raise BadCursor(cursor)
        return direction, [
            _typed(model._meta.get_field("id" if name == "pk" else name), v)
            for name, v in zip(self.names, values, strict=True)
        ]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str) or value is None:
        return value
    return str(value)  # a UUID


#: The range of the widest integer column the supported databases store (64-bit signed): a value
#: outside it is an overflow in the database driver, not a position in any list.
INTEGER_RANGE = range(-(2**63), 2**63)
_INTEGER_KINDS = {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}
_INTEGER_KINDS |= {"SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField"}
_INTEGER_KINDS |= {"PositiveSmallIntegerField"}


def _typed(field: Field[Any, Any] | ForeignObjectRel, value: Any) -> Any:
    """``value`` as ``field`` holds it, accepted only in the form :meth:`Keyset.cursor` writes.
    Hand-written rather than ``field.to_python``: that coerces ``true`` or ``1.5`` to an integer,
    leaves the range to the database, and refuses with a ``ValidationError`` of its own."""
    kind = field.get_internal_type()
    if kind == "DateTimeField" and isinstance(value, str):
        try:
            moment = parse_datetime(value)
            if moment is not None and moment.tzinfo is not None:
                moment.astimezone(UTC)  # year 1 or 9999 with an offset does not fit in UTC
                return moment
        except (ValueError, OverflowError):
            pass
    elif kind == "UUIDField" and isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    elif kind in _INTEGER_KINDS and type(value) is int:  # not a bool, not a float
        if value in INTEGER_RANGE:
            return value
    elif kind in ("CharField", "TextField", "SlugField") and isinstance(value, str) and "\x00" not in value:
        return value
    raise BadCursor(repr(value))


@dataclass
class KeysetPage(Generic[T]):
    rows: list[T]
    next: str | None  # the cursor of the page after this one, None at the end
    previous: str | None  # the cursor of the page before, None at the start

    @property
    def is_first(self) -> bool:
        return self.previous is None


def keyset_page(
    queryset: QuerySet[T],
    keyset: Keyset,
    *,
    size: int,
    cursor: str | None = None,
    last: bool = False,
    ids_first: bool = False,
) -> KeysetPage[T]:
    """One page of ``queryset`` in ``keyset`` order: the first, the one ``cursor`` points to, or
    the ``last``. Raises :class:`BadCursor` for a cursor this list did not hand out.

    One query, plus one more only when a "previous" cursor finds less than a page (rows were
    deleted, or the cursor was close to the start): then the first page is shown instead.
    ``ids_first``: the page's primary keys first, then its rows (one query more), for a list whose
    index carries what it filters on: the first query then reads the index alone, however many
    entries the filters pass over, where one reading whole rows reads the row of every entry."""

    def page_rows(ordered: QuerySet[T]) -> list[T]:
        return rows_at(ordered, 0, size + 1) if ids_first else list(ordered[: size + 1])

    if cursor:
        direction, values = keyset.parse(cursor, queryset.model)
        reverse = direction == PREVIOUS
        beyond = queryset.filter(keyset.beyond(values, reverse))
        rows = page_rows(beyond.order_by(*keyset.order_by(reverse)))
        more = len(rows) > size
        rows = rows[:size]
        if reverse:
            if not more:
                return keyset_page(queryset, keyset, size=size, ids_first=ids_first)
            rows.reverse()
            return _page(keyset, rows, has_next=True, has_previous=True)
        return _page(keyset, rows, has_next=more, has_previous=True)
    rows = page_rows(queryset.order_by(*keyset.order_by(reverse=last)))
    more = len(rows) > size
    rows = rows[:size]
    if last:
        rows.reverse()
        return _page(keyset, rows, has_next=False, has_previous=more)
    return _page(keyset, rows, has_next=more, has_previous=False)


@dataclass
class KeysetSlice(Generic[T]):
    rows: list[T]
    more: bool  # the list goes on past these rows, in the direction they were read


def keyset_slice(
    queryset: QuerySet[T],
    keyset: Keyset,
    *,
    size: int,
    after: str | None = None,
    before: str | None = None,
    from_end: bool = False,
    ids_first: bool = False,
) -> KeysetSlice[T]:
    """Relay's connection arguments on a keyset, in one query: the ``size`` rows after ``after``
    (or from the start), or with ``from_end`` the ``size`` rows before ``before`` (or at the end),
    either way in keyset order, between both cursors when both are given. Any cursor of this
    keyset marks a row: its direction is not read (``first``/``last`` say which way to go).
    Raises :class:`BadCursor` for a cursor this list did not hand out. ``ids_first``: as for
    :func:`keyset_page` (one query more)."""
    if after:
        queryset = queryset.filter(keyset.beyond(keyset.parse(after, queryset.model)[1]))
    if before:
        queryset = queryset.filter(keyset.beyond(keyset.parse(before, queryset.model)[1], reverse=True))
    ordered = queryset.order_by(*keyset.order_by(reverse=from_end))
    rows = rows_at(ordered, 0, size + 1) if ids_first else list(ordered[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if from_end:
        rows.reverse()
    return KeysetSlice(rows, more)


def _page(keyset: Keyset, rows: list[T], *, has_next: bool, has_previous: bool) -> KeysetPage[T]:
    return KeysetPage(
        rows=rows,
        next=keyset.cursor(NEXT, rows[-1]) if has_next and rows else None,
        previous=keyset.cursor(PREVIOUS, rows[0]) if has_previous and rows else None,
    )


def capped_count(queryset: QuerySet, cap: int) -> int | None:
    """How many rows, or None when there are more than ``cap``: never reads more than ``cap + 1``."""
    # The primary keys only: a list's select_related joins (and wide rows) change no count.
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return None if found > cap else found


def rows_at(queryset: QuerySet[T], offset: int, size: int) -> list[T]:
    """``queryset[offset:offset + size]`` in its order, in two queries: the primary keys of the
    page (skipping ``offset`` rows of an index rather than of the table), then its rows."""
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + size])
    if not ids:
        return []
    found = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
    return [found[pk] for pk in ids if pk in found]
