"""The sliding-window log: never more than the limit in any 60-second window."""

import random

from keys.metering.ratelimit import WINDOW_SECONDS, LocalWindow, RateLimiter


def test_never_more_than_the_limit_in_any_window():
    window = LocalWindow()
    rng = random.Random(7)
    limit, now, accepted = 10, 0.0, []
    for _ in range(5000):
        now += rng.expovariate(1 / 0.9)  # bursts and lulls
        if window.hit("k", limit, now=now).allowed:
            accepted.append(now)
    assert len(accepted) > 100
    for i, start in enumerate(accepted):
        in_window = [t for t in accepted[i:] if t < start + WINDOW_SECONDS]
        assert len(in_window) <= limit


def test_no_double_burst_at_a_window_edge():
    window = LocalWindow()
    assert sum(window.hit("k", 5, now=59.0).allowed for _ in range(10)) == 5
    # A fixed window would reset at 60 s and let 5 more through here.
    assert sum(window.hit("k", 5, now=61.0).allowed for _ in range(10)) == 0
    assert sum(window.hit("k", 5, now=119.5).allowed for _ in range(10)) == 5


def test_headers_count_down_and_reset():
    window = LocalWindow()
    first = window.hit("k", 2, now=100.0)
    assert (first.allowed, first.remaining, first.reset_seconds) == (True, 1, 60)
    window.hit("k", 2, now=130.0)
    refused = window.hit("k", 2, now=140.0)
    assert (refused.allowed, refused.remaining, refused.reset_seconds) == (False, 0, 20)
    assert refused.headers()["Retry-After"] == "20"
    assert refused.headers()["RateLimit-Limit"] == "2"


def test_keys_are_counted_separately():
    window = LocalWindow()
    assert window.hit("a", 1, now=0).allowed
    assert not window.hit("a", 1, now=1).allowed
    assert window.hit("b", 1, now=1).allowed


def test_unreachable_redis_falls_back_to_local_counting(caplog):
    limiter = RateLimiter("redis://127.0.0.1:1/0")  # nothing listens on port 1
    decisions = [limiter.hit("k", 2) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert limiter.degraded and limiter.backend == "local (Redis unreachable)"
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1  # logged once
    assert limiter.check_shared() is False
