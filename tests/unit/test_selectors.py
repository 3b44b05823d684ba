"""keys/selectors.py: reads for the key pages and the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from keys import selectors
from keys.errors import ServiceError
from keys.models import KeyUsageDay

pytestmark = pytest.mark.django_db


def test_suggested_names_are_unique(demo, make_key):
    assert selectors.suggest_key_name(demo.acme, demo.incharge) == "InCharge key 1"
    make_key(application=demo.incharge, name="InCharge key 1", scopes=["billing:read"])
    assert selectors.suggest_key_name(demo.acme, demo.incharge) == "InCharge key 2"


# ---- a key's usage, day by day ----


def _usage_row(key, days_ago: int, **counts) -> KeyUsageDay:
    """A day's row as the usage buffer writes it: total is the sum of the outcomes."""
    counts = {"success": 0, "client_errors": 0, "denied": 0, "rate_limited": 0, "server_errors": 0} | counts
    day = timezone.now().date() - timedelta(days=days_ago)
    return KeyUsageDay.objects.create(key=key, day=day, total=sum(counts.values()), **counts)


def test_daily_usage_has_every_day_oldest_first_with_zeros(make_key):
    key = make_key().key
    _usage_row(key, 0, success=90, client_errors=4, denied=2, rate_limited=3, server_errors=1)
    _usage_row(key, 3, success=20, denied=5)
    today = timezone.now().date()
    days = selectors.daily_usage(key, 7)
    assert [d.day for d in days] == [today - timedelta(days=n) for n in range(6, -1, -1)]
    by_day = {(today - d.day).days: d for d in days}
    assert (by_day[0].calls, by_day[0].success, by_day[0].errors, by_day[0].rate_limited) == (100, 90, 7, 3)
    assert (by_day[3].calls, by_day[3].errors, by_day[3].rate_limited) == (25, 5, 0)
    assert by_day[0].failed == 10 and by_day[3].failed == 5  # errors and rate-limited calls alike
    for n in (1, 2, 4, 5, 6):
        assert (by_day[n].calls, by_day[n].success, by_day[n].errors, by_day[n].rate_limited) == (0, 0, 0, 0)


def test_daily_usage_range_edges(make_key):
    key = make_key().key
    _usage_row(key, -1, success=1000)  # tomorrow (a worker's clock ahead): not part of "the last N days"
    _usage_row(key, 0, success=1)
    _usage_row(key, 29, success=2)  # the first of 30 days
    _usage_row(key, 30, success=4)  # the day before it
    assert [d.calls for d in selectors.daily_usage(key, 1)] == [1]
    thirty = selectors.daily_usage(key, 30)
    assert len(thirty) == 30 and thirty[0].calls == 2 and thirty[-1].calls == 1
    assert sum(d.calls for d in thirty) == 3
    assert sum(d.calls for d in selectors.daily_usage(key, 31)) == 7
    ninety = selectors.daily_usage(key, selectors.USAGE_DAYS_MAX)
    assert len(ninety) == 90 and ninety[-1].day == timezone.now().date()


def test_daily_usage_counts_only_this_key(demo, make_key):
    key = make_key(name="mine").key
    other = make_key(name="other").key
    foreign = make_key(organization=demo.globex, name="theirs").key
    _usage_row(key, 1, success=3)
    _usage_row(other, 1, success=50, denied=5)
    _usage_row(foreign, 1, success=70)
    days = selectors.daily_usage(key, 3)
    assert [d.calls for d in days] == [0, 3, 0] and sum(d.errors for d in days) == 0


def test_daily_usage_is_one_query_whatever_the_range(make_key, django_assert_num_queries):
    key = make_key().key
    for n in range(0, 90, 3):
        _usage_row(key, n, success=n, denied=1)
    for days in (1, 7, 90):
        with django_assert_num_queries(1):
            assert len(selectors.daily_usage(key, days)) == days


@pytest.mark.parametrize("days", [0, -1, 91, 10**9, True, "30", 7.0, None])
def test_daily_usage_refuses_a_range_outside_1_to_90_days(make_key, days):
    with pytest.raises(ServiceError) as refused:
        selectors.daily_usage(make_key().key, days)
    assert refused.value.code == "validation_error" and refused.value.field == "days"
    assert "1 to 90" in refused.value.message


def test_errors_mean_the_same_in_the_totals_and_by_day(make_key):
    key = make_key().key
    _usage_row(key, 0, success=5, client_errors=1, denied=2, rate_limited=8, server_errors=3)
    _usage_row(key, 2, success=1, denied=1)
    totals = selectors.usage_totals(key)
    days = selectors.daily_usage(key, 30)
    assert totals["errors"] == sum(d.errors for d in days) == 7
    assert totals["rate_limited"] == sum(d.rate_limited for d in days) == 8
    assert totals["total"] == sum(d.calls for d in days) == 21


def test_a_key_made_like_another_is_named_after_it(demo, make_key):
    make_key(name="SAP ERP Integration")
    assert selectors.suggest_copy_name(demo.acme, "SAP ERP Integration") == "SAP ERP Integration (2)"
    make_key(name="sap erp integration (2)")  # names are unique without regard to case
    assert selectors.suggest_copy_name(demo.acme, "SAP ERP Integration") == "SAP ERP Integration (3)"
    assert selectors.suggest_copy_name(demo.acme, "SAP ERP Integration (2)") == "SAP ERP Integration (3)"
    assert (
        selectors.suggest_copy_name(demo.globex, "SAP ERP Integration") == "SAP ERP Integration (2)"
    )  # per tenant
    long = "x" * 128
    assert selectors.suggest_copy_name(demo.acme, long) == "x" * 124 + " (2)"
