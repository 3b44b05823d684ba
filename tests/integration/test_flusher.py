"""keys/metering/flusher.py: a worker writes its buffered usage at shutdown; a full buffer drops calls
it cannot keep, counted and logged. The timer itself, in an idle gunicorn worker: test_gunicorn.py."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from keys.metering import usage
from keys.metering.flusher import Flusher
from keys.models import KeyUsageDay


def dropped(what: str) -> float:
    return REGISTRY.get_sample_value("akp_usage_dropped_total", {"what": what}) or 0.0


def counted(key) -> int:
    day = KeyUsageDay.objects.filter(key=key).first()
    return day.total if day else 0


@pytest.mark.django_db
def test_shutdown_writes_what_is_left(api, make_key, settings):
    settings.USAGE_FLUSH_SECONDS = 3600  # the timer never fires here
    issued = make_key()
    api("get", "/api/v1/key", issued.secret)
    api("get", "/api/v1/key", issued.secret)
    flusher = Flusher()
    flusher.start()
    assert counted(issued.key) == 0
    flusher.shutdown()
    assert counted(issued.key) == 2
    assert not flusher.running()


@pytest.mark.django_db
def test_a_full_buffer_counts_and_logs_what_it_drops(api, make_key, settings, caplog):
    settings.USAGE_BUFFER_MAX_ROWS = 2
    first, second, third = make_key(), make_key(), make_key()
    before = dropped("calls"), dropped("last_used")
    api("get", "/api/v1/key", first.secret)
    api("get", "/api/v1/key", second.secret)
    api("get", "/api/v1/key", second.secret)  # an existing counter still counts
    for _ in range(3):
        assert api("get", "/api/v1/key", third.secret).status_code == 200  # never a refused answer
    assert (dropped("calls") - before[0], dropped("last_used") - before[1]) == (3, 3)
    usage.buffer.report_dropped()
    assert "dropped 3 calls and 3 last-use updates" in caplog.text
    assert usage.buffer.flush(force_last_used=True) == 3
    assert (counted(first.key), counted(second.key), counted(third.key)) == (1, 2, 0)
    api("get", "/api/v1/key", third.secret)  # room again
    assert usage.buffer.flush() == 1
