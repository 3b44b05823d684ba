"""keys/metering/usage.py: each authenticated API request is counted per key and day, in memory,
and written in batches, with the key's last use and its recent client addresses."""

import pytest

from keys.metering import usage
from keys.models import ApiKey, KeyUsageDay

pytestmark = pytest.mark.django_db


def test_usage_counters_and_last_used_after_a_flush(api, make_key, settings):
    issued = make_key()
    other = make_key()
    for _ in range(3):
        api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="198.51.100.1")
    api("get", "/api/v1/org/api-keys?limit=0", issued.secret, REMOTE_ADDR="198.51.100.2")
    api("get", f"/api/v1/org/api-keys/{other.key.pk}", issued.secret, REMOTE_ADDR="198.51.100.3")
    assert not KeyUsageDay.objects.exists()  # buffered, not written per request
    assert usage.buffer.flush() == 5
    day = KeyUsageDay.objects.get(key=issued.key)
    assert (day.total, day.success, day.client_errors, day.denied, day.rate_limited) == (5, 4, 1, 0, 0)
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert key.last_used_at is not None
    assert [e["ip"] for e in key.recent_ips] == ["198.51.100.3", "198.51.100.2", "198.51.100.1"]


def test_recent_ips_keep_the_last_five_distinct(api, make_key):
    issued = make_key()
    for i in range(8):
        api("get", "/api/v1/key", issued.secret, REMOTE_ADDR=f"192.0.2.{i}")
    api("get", "/api/v1/key", issued.secret, REMOTE_ADDR="192.0.2.4")
    usage.buffer.flush(force_last_used=True)
    ips = [e["ip"] for e in ApiKey.objects.get(pk=issued.key.pk).recent_ips]
    assert ips[0] == "192.0.2.4" and len(ips) == 5 and len(set(ips)) == 5


def test_last_used_written_at_most_once_a_minute(api, make_key, django_assert_num_queries):
    issued = make_key()
    api("get", "/api/v1/key", issued.secret)
    usage.buffer.flush()
    first = ApiKey.objects.get(pk=issued.key.pk).last_used_at
    api("get", "/api/v1/key", issued.secret)
    usage.buffer.flush()
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at == first
    assert KeyUsageDay.objects.get(key=issued.key).total == 2
