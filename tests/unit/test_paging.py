"""paging: keyset pages that neither skip nor repeat a row while rows are written between them,
cursors a client cannot forge into anything but a position, capped counts, and offset pages that
read the same rows as a slice."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import ApiKey
from paging import BadCursor, Keyset, capped_count, keyset_page, rows_at
from tests.helpers.bulk import bulk_events

pytestmark = pytest.mark.django_db

ORDER = Keyset("-occurred_at", "-id")


@pytest.fixture
def events(demo):
    bulk_events(demo.acme, 23)
    return AuditEvent.objects.filter(organization=demo.acme, actor_label="bulk@acme.test")


def walk(queryset, size: int, *, write_between=None) -> list[int]:
    """Every page from the first, following ``next``; ``write_between(n)`` runs before page n+1."""
    seen: list[int] = []
    page = keyset_page(queryset, ORDER, size=size)
    n = 0
    while True:
        seen += [e.pk for e in page.rows]
        if page.next is None:
            return seen
        if write_between:
            write_between(n)
        n += 1
        page = keyset_page(queryset, ORDER, size=size, cursor=page.next)


def test_pages_follow_the_order_to_the_end_and_back(events):
    everything = list(events.order_by("-occurred_at", "-id").values_list("pk", flat=True))
    assert walk(events, 5) == everything
    first = keyset_page(events, ORDER, size=5)
    second = keyset_page(events, ORDER, size=5, cursor=first.next)
    assert first.previous is None and first.is_first and second.previous is not None
    back = keyset_page(events, ORDER, size=5, cursor=second.previous)
    assert [e.pk for e in back.rows] == [e.pk for e in first.rows] and back.previous is None
    last = keyset_page(events, ORDER, size=5, last=True)
    assert [e.pk for e in last.rows] == everything[-5:] and last.next is None
    before_last = keyset_page(events, ORDER, size=5, cursor=last.previous)
    assert [e.pk for e in before_last.rows] == everything[-10:-5]


def test_no_row_is_skipped_or_repeated_while_rows_are_written_between_pages(demo, events):
    """Events are appended at the top of the log while someone pages down; a late-written event can
    also land below the cursor (a clock a little behind). Every event that existed at the start is
    seen exactly once; an event written below the cursor shows up on a later page."""
    original = set(events.values_list("pk", flat=True))
    oldest = events.order_by("occurred_at").first().occurred_at
    late = []

    def write(n: int) -> None:
        bulk_events(demo.acme, 2)  # newer than everything: above every cursor
        late.extend(bulk_events(demo.acme, 1, newest=oldest - timedelta(seconds=1 + n)))

    seen = walk(events, 4, write_between=write)
    assert len(seen) == len(set(seen)), "a row was shown twice"
    assert original <= set(seen), "a row was skipped"
    assert {e.pk for e in late} <= set(seen)


def test_rows_with_the_same_time_are_ordered_by_id(demo):
    moment = timezone.now()
    bulk_events(demo.acme, 1, newest=moment, label="tie")
    bulk_events(demo.acme, 1, newest=moment, label="tie")
    bulk_events(demo.acme, 1, newest=moment, label="tie")
    ties = AuditEvent.objects.filter(actor_label="tie")
    ids = sorted(ties.values_list("pk", flat=True), reverse=True)
    assert walk(ties, 1) == ids


def test_a_cursor_is_opaque_and_checked(events):
    cursor = keyset_page(events, ORDER, size=5).next
    direction, values = ORDER.parse(cursor, AuditEvent)
    assert direction == "n" and len(values) == 2
    forged = base64.urlsafe_b64encode(json.dumps(["x", "2026-01-01T00:00:00+00:00", 1]).encode()).decode()
    wrong_types = base64.urlsafe_b64encode(json.dumps(["n", "yesterday", 1]).encode()).decode()
    for bad in ("", "not base64!", "eyJ9", forged, wrong_types, cursor[:-4]):
        with pytest.raises(BadCursor):
            keyset_page(events, ORDER, size=5, cursor=bad or "=")


def _encoded(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ["p", "2026-01-01T00:00:00+00:00", "x"],  # an id that is no integer
        ["n", "2026-01-01T00:00:00+00:00", 99999999999999999999999],  # past any integer column
        ["n", "2026-01-01T00:00:00+00:00", True],  # a boolean is not an id
        ["n", "2026-01-01T00:00:00+00:00", 1.5],
        ["n", "2026-01-01T00:00:00+00:00", None],
        ["n", "2026-01-01T00:00:00+00:00", [1]],
        ["n", "2026-13-01T00:00:00+00:00", 1],  # well-formed, impossible
        ["n", "2026-01-01T00:00:00", 1],  # no offset: not a time the cursor wrote
        ["n", "0001-01-01T00:00:00+05:00", 1],  # before the first UTC moment
        ["n", 20260101, 1],
        {"n": 1},
        ["n", "2026-01-01T00:00:00+00:00"],
    ],
)
def test_a_cursor_whose_values_do_not_fit_its_columns_is_refused(events, values):
    with pytest.raises(BadCursor):
        keyset_page(events, ORDER, size=5, cursor=_encoded(values))


def test_a_key_cursor_is_checked_against_the_uuid_column():
    for bad in ("x", 12, "0" * 33):
        with pytest.raises(BadCursor):
            Keyset("-created_at", "-id").parse(_encoded(["n", "2026-01-01T00:00:00+00:00", bad]), ApiKey)


def test_capped_count_counts_up_to_the_cap(events, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert capped_count(events, 23) == 23
    assert capped_count(events, 22) is None
    assert capped_count(events.none(), 10) == 0


def test_rows_at_is_the_same_as_a_slice(events, django_assert_num_queries):
    ordered = events.order_by("-occurred_at", "-id")
    expected = list(ordered[7:12])
    with django_assert_num_queries(2):
        assert rows_at(ordered, 7, 5) == expected
    assert rows_at(ordered, 100, 5) == []
