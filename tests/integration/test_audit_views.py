"""portal/audit_log/views.py: the audit-log page answers whatever its filters are given."""

import pytest

pytestmark = pytest.mark.django_db

NUL = "\x00"
LONG = "x" * 10_000


@pytest.mark.parametrize(
    "query",
    [
        {"actor": NUL, "key": NUL},
        {"actor": LONG},
        {"action": NUL},
        {"date_from": "2026-13-45", "date_to": "9" * 100},
        {"page": "9" * 30},
    ],
)
def test_audit_log_with_bad_filters_still_answers(demo, login, query):
    response = login("advanced@acme.test").get("/settings/audit-log/", query)
    assert response.status_code == 200


# ---- long logs: counted up to a cap, paged by cursor at any depth, for the same queries ----

import re  # noqa: E402

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from audit import selectors  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from portal.audit_log import filters  # noqa: E402
from tests.helpers.bulk import bulk_events, bulk_keys  # noqa: E402
from tests.helpers.portal import HX  # noqa: E402

ROW_TIME = re.compile(r'<time datetime="([^"]+)">')


def _link(html: str, element_id: str) -> str | None:
    found = re.search(rf'<a [^>]*id="{element_id}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def test_a_long_log_is_paged_by_cursor_to_the_oldest_and_back(demo, login, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 120)
    bulk_events(demo.acme, 180, label="pager@acme.test")
    client = login("advanced@acme.test")
    url = "/settings/audit-log/?actor=pager%40acme.test"
    first = client.get(url).content.decode()
    assert "Showing 1–50 of more than 120 events" in first
    assert 'id="page-1"' in first and 'id="page-2"' in first and 'id="page-3"' in first
    assert 'id="page-4"' not in first  # numbered pages reach as far as the count (120 events)
    assert "Newest</span>" in first and "Newer</span>" in first  # both disabled on the first page
    older = client.get("/settings/audit-log/" + _link(first, "page-next"), **HX).content.decode()
    assert "Showing 50 of more than 120 events" in older
    oldest = client.get("/settings/audit-log/" + _link(first, "page-last"), **HX).content.decode()
    assert "Showing 50 of more than 120 events" in oldest and 'id="page-next"' not in oldest
    times = ROW_TIME.findall(oldest)
    assert times == sorted(times, reverse=True)
    events = AuditEvent.objects.filter(actor_label="pager@acme.test").order_by("occurred_at")
    assert times[-1] == events.first().occurred_at.isoformat()
    newer = client.get("/settings/audit-log/" + _link(oldest, "page-prev"), **HX).content.decode()
    assert ROW_TIME.findall(newer)[-1] > times[0]
    page_3 = client.get(url + "&page=3", **HX).content.decode()
    assert "Showing 101–150 of more than 120 events" in page_3
    assert "Showing 101–150" in client.get(url + "&page=999", **HX).content.decode()  # as far as numbers go


def test_following_older_links_while_events_are_written_skips_and_repeats_nothing(demo, login):
    bulk_events(demo.acme, 130, label="walker@acme.test")
    existing = set(AuditEvent.objects.filter(actor_label="walker@acme.test").values_list("pk", flat=True))
    client = login("advanced@acme.test")
    url = "/settings/audit-log/?actor=walker%40acme.test"
    seen: list[str] = []
    while url:
        html = client.get(url, **HX).content.decode()
        seen += ROW_TIME.findall(html)
        bulk_events(demo.acme, 7, label="walker@acme.test")  # newer than every row shown so far
        next_link = _link(html, "page-next")
        url = "/settings/audit-log/" + next_link if next_link else None
    assert len(seen) == len(set(seen)) == len(existing)  # bulk events are a second apart: times are unique


def test_the_log_costs_the_same_queries_with_few_or_many_events(demo, login, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 100)
    client = login("advanced@acme.test")

    def counts() -> dict[str, int]:
        found = {}
        first = client.get("/settings/audit-log/").content.decode()
        for name, url in (
            ("first", "/settings/audit-log/"),
            ("numbered", "/settings/audit-log/?page=2"),
            ("last", "/settings/audit-log/?page=last"),
            ("cursor", "/settings/audit-log/" + (_link(first, "page-next") or "?cursor=x")),
            ("key filter", "/settings/audit-log/?key=bulk"),
        ):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            found[name] = len(queries)
        return found

    bulk = bulk_keys(demo.acme, 1, applications=[demo.portal], accounts=[demo.acme_root])[0]
    bulk_events(demo.acme, 60, key=bulk)
    few = counts()
    keys = bulk_keys(
        demo.acme, 30, applications=[demo.portal], accounts=[demo.acme_root, demo.north], prefix="bulk more"
    )
    for key in keys[:5]:
        bulk_events(demo.acme, 100, key=key)
    bulk_events(demo.acme, 500)
    many = counts()
    assert few == many, (few, many)


def test_a_key_filter_matching_many_keys_is_asked_as_a_subquery(demo, login, monkeypatch):
    keys = bulk_keys(demo.acme, 6, applications=[demo.portal], accounts=[demo.acme_root], prefix="fleet")
    for key in keys:
        bulk_events(demo.acme, 2, key=key)
    client = login("advanced@acme.test")

    def rows() -> int:
        return client.get("/settings/audit-log/", {"key": "fleet"}, **HX).content.decode().count("<tr>") - 1

    as_ids = rows()
    monkeypatch.setattr(filters, "KEY_IDS_AT_MOST", 3)
    assert rows() == as_ids == 12


def test_a_key_filter_matching_many_keys_is_asked_as_a_list_of_ids_in_any_form(demo, login, monkeypatch):
    """Placeholders per id, one array parameter (PostgreSQL, from ``ONE_PARAMETER_FROM`` ids) and a
    subquery find the same events."""
    keys = bulk_keys(demo.acme, 8, applications=[demo.portal], accounts=[demo.acme_root], prefix="fleet")
    for key in keys:
        bulk_events(demo.acme, 2, key=key)
    bulk_events(demo.acme, 5)
    client = login("advanced@acme.test")

    def rows() -> int:
        return client.get("/settings/audit-log/", {"key": "fleet"}, **HX).content.decode().count("<tr>") - 1

    placeholders = rows()
    monkeypatch.setattr(filters, "ONE_PARAMETER_FROM", 2)
    one_parameter = rows()
    monkeypatch.setattr(filters, "KEY_IDS_AT_MOST", 3)
    assert rows() == one_parameter == placeholders == 16


def test_a_member_of_a_sub_account_pages_through_their_subtree_only(demo, login, make_user):
    from accounts.models import Role

    make_user("north-admin@acme.test", Role.ADVANCED_ADMIN, account=demo.north)
    north = bulk_keys(demo.acme, 1, applications=[demo.portal], accounts=[demo.north], prefix="north")[0]
    root = bulk_keys(demo.acme, 1, applications=[demo.portal], accounts=[demo.acme_root], prefix="root")[0]
    bulk_events(demo.acme, 60, key=north)
    bulk_events(demo.acme, 60, key=root)
    client = login("north-admin@acme.test")
    html = client.get("/settings/audit-log/").content.decode()
    assert "Showing 1–50 of 60 events" in html and "root 0000" not in html
    older = client.get("/settings/audit-log/" + _link(html, "page-next"), **HX).content.decode()
    assert "north 0000" in older and "root 0000" not in older and 'id="page-next"' not in older


def test_the_date_filter_reads_days_in_the_members_time_zone(login):
    from datetime import UTC, datetime

    from accounts.actors import Actor
    from accounts.models import User
    from audit.context import as_of
    from audit.models import AuditAction, AuditEvent
    from audit.services import record_event

    member = User.objects.get(email="advanced@acme.test")
    with as_of(datetime(2026, 6, 10, 20, 0, tzinfo=UTC)):  # Jun 11, 05:00 in Tokyo
        record_event(actor=Actor.for_user(member), action=AuditAction.LOGIN_SUCCEEDED)
    assert AuditEvent.objects.get().occurred_at == datetime(2026, 6, 10, 20, 0, tzinfo=UTC)
    client = login("advanced@acme.test")
    url = "/settings/audit-log/?date_from=2026-06-11&date_to=2026-06-11"
    assert "No events match these filters" in client.get(url).content.decode()  # Jun 10 in UTC
    member.time_zone = "Asia/Tokyo"
    member.save(update_fields=["time_zone"])
    html = client.get(url).content.decode()
    assert "Jun 11, 2026 05:00 JST" in html
