"""Rate limits shared through Redis by several processes (run when REDIS_URL is set)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from keys.metering.ratelimit import RateLimiter, RedisWindow

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = [pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason="needs REDIS_URL")]
ROOT = Path(__file__).resolve().parents[2]

HAMMER = """
import sys
from keys.metering.ratelimit import RedisWindow
window = RedisWindow(sys.argv[1])
print(sum(window.hit(sys.argv[2], int(sys.argv[3])).allowed for _ in range(int(sys.argv[4]))))
"""


def test_two_processes_share_one_limit():
    key = f"test-{uuid.uuid4()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, REDIS_URL, key, "25", "40"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        )
        for _ in range(2)
    ]
    accepted = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(accepted) == 25, accepted
    assert all(a > 0 for a in accepted) or sum(accepted) == 25


def test_redis_window_headers():
    window = RedisWindow(REDIS_URL)
    key = f"test-{uuid.uuid4()}"
    decisions = [window.hit(key, 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert 59 <= decisions[-1].reset_seconds <= 60
    assert window.peek(key, 3).remaining == 0


def test_api_uses_redis_when_configured(api, make_key, settings):
    from keys.metering import ratelimit

    settings.REDIS_URL = REDIS_URL
    ratelimit._limiter.cache_clear()
    try:
        issued = make_key(rate_limit=2)
        codes = [api("get", "/api/v1/key", issued.secret).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert ratelimit.limiter().backend == "redis"
        ratelimit.limiter().local.clear()
        # The count lives in Redis, not in this process.
        assert api("get", "/api/v1/key", issued.secret).status_code == 429
    finally:
        ratelimit._limiter.cache_clear()


def test_requests_still_verified_when_redis_is_down(api, make_key, settings):
    from keys.metering import ratelimit

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    ratelimit._limiter.cache_clear()
    try:
        issued = make_key()
        assert api("get", "/api/v1/key", issued.secret).status_code == 200
        ready = api("get", "/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    finally:
        ratelimit._limiter.cache_clear()


def test_limiter_recovers_when_redis_returns():
    limiter = RateLimiter(REDIS_URL)
    limiter._mark_down(Exception("simulated outage"))
    limiter._redis_down_since -= RateLimiter.RETRY_REDIS_AFTER
    limiter.hit(f"test-{uuid.uuid4()}", 5)
    assert limiter.backend == "redis"


def test_batched_permits_stay_within_the_documented_overshoot_bound():
    """Two workers (two limiters) hammering one key: limit + P × (max_batch − 1) at most."""
    from keys.metering.ratelimit import BatchedRedisWindow, max_batch

    limit, workers = 1000, 2
    key = f"test-{uuid.uuid4()}"
    limiters = [BatchedRedisWindow(RedisWindow(REDIS_URL)) for _ in range(workers)]
    accepted = sum(limiters[i % workers].hit(key, limit).allowed for i in range(3000))
    bound = limit + workers * (max_batch(limit) - 1)
    assert limit - workers * max_batch(limit) <= accepted <= bound, (accepted, bound)
    assert max_batch(limit) == 10


def test_small_limits_are_exact_across_workers():
    from keys.metering.ratelimit import BatchedRedisWindow

    key = f"test-{uuid.uuid4()}"
    limiters = [BatchedRedisWindow(RedisWindow(REDIS_URL)) for _ in range(3)]
    assert sum(limiters[i % 3].hit(key, 10).allowed for i in range(50)) == 10


def test_batching_saves_round_trips():
    from keys.metering.ratelimit import BatchedRedisWindow

    window = RedisWindow(REDIS_URL)
    calls = {"n": 0}
    reserve = window.reserve

    def counting(*args):
        calls["n"] += 1
        return reserve(*args)

    window.reserve = counting
    limiter = BatchedRedisWindow(window)
    key = f"test-{uuid.uuid4()}"
    assert all(limiter.hit(key, 100_000).allowed for _ in range(2000))
    assert calls["n"] < 200, calls
