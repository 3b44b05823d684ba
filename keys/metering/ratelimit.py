"""Per-key, per-minute rate limits: a sliding-window log.

Why a log and not a fixed window or GCRA: a fixed window lets 2× the limit through at its edge, and
GCRA with a full burst lets a burst plus a minute of refill through in one 60-second span. The log
remembers when each accepted request happened and accepts a new one only while fewer than
``limit`` fall in the last 60 seconds, so **no 60-second window ever holds more than the limit**.

Two stores, one rule:

* :class:`LocalWindow` — per process, used when no Redis is configured (one machine; with several
  worker processes each enforces the limit on its own: a system check warns about that).
* :class:`RedisWindow` — one sorted set per key, updated by one atomic Lua script that reads the
  clock from Redis itself, so every worker and every machine share one limit. If Redis cannot be
  reached, the limiter falls back to :class:`LocalWindow` (logged once), retries Redis every few
  seconds, and ``/readyz`` reports ``degraded``.

No Redis round trip per request: a worker reserves a small batch of permits in one script call and
spends them locally for at most ``PERMIT_TTL`` (1 s); permits it does not spend in time lapse,
still counted (never more through, sometimes slightly fewer). The batch follows the key's recent
request rate, capped at ``max_batch(limit) = max(1, min(50, limit // 100))``, so keys with a
limit under 200/minute are checked in Redis on every request, exactly.

**Overshoot bound**: Redis never counts more than ``limit`` reservations in a 60-second window, and
a permit is spent at most ``PERMIT_TTL`` after it was reserved, so in any 60-second window at most
``limit + P × (max_batch(limit) − 1)`` requests are accepted, P being the number of worker
processes: for 500/minute and 4 workers, 500 + 4 × 4 = 516 (3 %). A refusal is remembered in the
worker for up to 1 s, so a flood of refused requests does not become a flood of Redis calls.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from keys.metering import metrics

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the oldest counted request leaves the window (a slot frees)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, self.reset_seconds))
        return headers


class LocalWindow:
    def __init__(self) -> None:
        self._logs: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key_id: str, limit: int, now: float | None = None) -> Decision:
        now = time.monotonic() if now is None else now
        with self._lock:
            log_ = self._logs.get(key_id)
            if log_ is None:
                log_ = self._logs[key_id] = deque()
            cutoff = now - WINDOW_SECONDS
            while log_ and log_[0] <= cutoff:
                log_.popleft()
            allowed = len(log_) < limit
            if allowed:
                log_.append(now)
            oldest = log_[0] if log_ else now
            reset = max(0, math.ceil(oldest + WINDOW_SECONDS - now))
            return Decision(allowed, limit, max(0, limit - len(log_)), reset)

    def peek(self, key_id: str, limit: int) -> Decision:
        now = time.monotonic()
        with self._lock:
            log_ = self._logs.get(key_id) or deque()
            count = sum(1 for t in log_ if t > now - WINDOW_SECONDS)
            oldest = next((t for t in log_ if t > now - WINDOW_SECONDS), now)
        reset = max(0, math.ceil(oldest + WINDOW_SECONDS - now)) if count else 0
        return Decision(count < limit, limit, max(0, limit - count), reset)

    def clear(self) -> None:
        with self._lock:
            self._logs.clear()


# KEYS[1] the key's log; ARGV: window ms, limit, member prefix, permits wanted (0 = only look).
# Returns {granted, count after, oldest score ms, now ms}.
_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local want = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local granted = math.max(0, math.min(want, limit - count))
if granted > 0 then
  local args = {}
  for i = 1, granted do
    args[#args + 1] = now
    args[#args + 1] = ARGV[3] .. ':' .. i
  end
  redis.call('ZADD', KEYS[1], unpack(args))
  count = count + granted
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], window)
local first = now
if oldest[2] then first = tonumber(oldest[2]) end
return {granted, count, first, now}
"""

PERMIT_TTL = 1.0
MAX_BATCH = 50


def max_batch(limit: int) -> int:
    return max(1, min(MAX_BATCH, limit // 100))


class RedisUnavailable(Exception):
    pass


class RedisWindow:
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._script = self._client.register_script(_LUA)
        self._prefix = "akp:rl:"

    def reserve(self, key_id: str, limit: int, want: int) -> tuple[int, int, int]:
        """(permits granted, count in the window after, seconds until the oldest leaves it)."""
        try:
            granted, count, oldest, now = self._script(
                keys=[self._prefix + key_id],
                args=[WINDOW_SECONDS * 1000, limit, uuid.uuid4().hex, want],
            )
        except redis.RedisError as exc:
            raise RedisUnavailable(str(exc)) from exc
        reset = max(0, math.ceil((int(oldest) + WINDOW_SECONDS * 1000 - int(now)) / 1000)) if count else 0
        return int(granted), int(count), reset

    def hit(self, key_id: str, limit: int) -> Decision:
        granted, count, reset = self.reserve(key_id, limit, 1)
        return Decision(granted > 0, limit, max(0, limit - count), reset)

    def peek(self, key_id: str, limit: int) -> Decision:
        _, count, reset = self.reserve(key_id, limit, 0)
        return Decision(count < limit, limit, max(0, limit - count), reset)

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False


class _Allowance:
    """One worker's permits for one key, reserved from Redis."""

    __slots__ = ("denied_until", "expires", "permits", "redis_remaining", "reserved_at", "reset", "served")

    def __init__(self) -> None:
        self.permits = 0
        self.expires = 0.0
        self.denied_until = 0.0
        self.redis_remaining = 0
        self.reset = 0
        self.reserved_at = 0.0
        self.served = 0


class BatchedRedisWindow:
    """Spends permits reserved in batches from :class:`RedisWindow`; see the module docstring."""

    def __init__(self, window: RedisWindow) -> None:
        self.window = window
        self._allowances: dict[str, _Allowance] = {}
        self._lock = threading.Lock()

    def hit(self, key_id: str, limit: int) -> Decision:
        now = time.monotonic()
        with self._lock:
            allowance = self._allowances.get(key_id)
            if allowance is None:
                allowance = self._allowances[key_id] = _Allowance()
            allowance.served += 1
            if allowance.permits > 0 and now < allowance.expires:
                allowance.permits -= 1
                return Decision(True, limit, allowance.redis_remaining + allowance.permits, allowance.reset)
            if now < allowance.denied_until:
                return Decision(False, limit, 0, max(1, math.ceil(allowance.denied_until - now)))
            # Reserve about half a second of this worker's recent traffic, within the cap.
            elapsed = max(now - allowance.reserved_at, 1e-3)
            rate = allowance.served / elapsed
            want = max(1, min(max_batch(limit), int(rate * PERMIT_TTL / 2)))
            allowance.served = 0
            allowance.reserved_at = now
        granted, count, reset = self.window.reserve(key_id, limit, want)
        with self._lock:
            allowance.redis_remaining = max(0, limit - count)
            allowance.reset = reset
            if granted == 0:
                allowance.permits = 0
                allowance.denied_until = now + min(PERMIT_TTL, max(reset, 0.05))
                return Decision(False, limit, 0, max(1, reset))
            allowance.permits = granted - 1
            allowance.expires = now + PERMIT_TTL
            return Decision(True, limit, allowance.redis_remaining + allowance.permits, reset)

    def peek(self, key_id: str, limit: int) -> Decision:
        return self.window.peek(key_id, limit)

    def ping(self) -> bool:
        return self.window.ping()

    def clear(self) -> None:
        with self._lock:
            self._allowances.clear()


class RateLimiter:
    """Redis when configured and reachable, this process's memory otherwise."""

    RETRY_REDIS_AFTER = 5.0

    def __init__(self, redis_url: str = "", *, publish: bool = False) -> None:
        self.local = LocalWindow()
        self.shared = BatchedRedisWindow(RedisWindow(redis_url)) if redis_url else None
        self._redis_down_since: float | None = None
        self._lock = threading.Lock()
        self.publish = publish  # the process's own limiter tells /metrics how it counts
        self._publish_mode()

    def _publish_mode(self) -> None:
        if self.publish:
            metrics.set_rate_limit_mode(shared=self.shared is not None and self._redis_down_since is None)

    @property
    def degraded(self) -> bool:
        return self.shared is not None and self._redis_down_since is not None

    @property
    def backend(self) -> str:
        if self.shared is None:
            return "local"
        return "local (Redis unreachable)" if self.degraded else "redis"

    def _use_shared(self) -> bool:
        if self.shared is None:
            return False
        down = self._redis_down_since
        return down is None or time.monotonic() - down >= self.RETRY_REDIS_AFTER

    def _mark_down(self, exc: Exception) -> None:
        with self._lock:
            if self._redis_down_since is None:
                log.error("Redis unreachable (%s); rate limits fall back to per-process counting", exc)
            self._redis_down_since = time.monotonic()
            self._publish_mode()

    def _mark_up(self) -> None:
        if self._redis_down_since is not None:
            with self._lock:
                self._redis_down_since = None
            log.warning("Redis reachable again; rate limits are shared across processes")
            self._publish_mode()

    def hit(self, key_id: str, limit: int) -> Decision:
        shared = self.shared
        if shared is not None and self._use_shared():
            try:
                decision = shared.hit(key_id, limit)
            except RedisUnavailable as exc:
                self._mark_down(exc)
            else:
                self._mark_up()
                return decision
        return self.local.hit(key_id, limit)

    def peek(self, key_id: str, limit: int) -> Decision:
        shared = self.shared
        if shared is not None and self._use_shared():
            try:
                return shared.peek(key_id, limit)
            except RedisUnavailable as exc:
                self._mark_down(exc)
        return self.local.peek(key_id, limit)

    def check_shared(self) -> bool | None:
        """For /readyz: None without Redis, else whether it answers right now."""
        if self.shared is None:
            return None
        ok = self.shared.ping()
        if ok:
            self._mark_up()
        else:
            self._mark_down(RedisUnavailable("ping failed"))
        return ok


@lru_cache(maxsize=1)
def _limiter(redis_url: str) -> RateLimiter:
    return RateLimiter(redis_url, publish=True)


def limiter() -> RateLimiter:
    return _limiter(settings.REDIS_URL)
