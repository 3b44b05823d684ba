"""What the caches hold, for tests that check a secret never reaches them."""

from __future__ import annotations

import redis
from django.conf import settings
from django.core.cache import cache

from keys.hotpath import ratelimit, usage
from keys.hotpath.verification import verified_keys


def cache_contents() -> str:
    """Everything the shared cache (local memory or every key in Redis) and this process's own
    caches hold, as text."""
    parts = [repr(getattr(cache, "_cache", {}))]  # local memory: pickled values, as bytes
    if settings.REDIS_URL:
        server = redis.Redis.from_url(settings.REDIS_URL)
        for name in server.scan_iter(count=1000):
            kind = server.type(name).decode()
            dump = {
                "string": server.get,
                "hash": server.hgetall,
                "list": lambda n: server.lrange(n, 0, -1),
                "set": server.smembers,
                "zset": lambda n: server.zrange(n, 0, -1, withscores=True),
            }.get(kind, lambda n: b"")
            parts.append(f"{name!r} {dump(name)!r}")
    parts += [
        repr(verified_keys._entries),
        repr(vars(usage.buffer)),
        repr(vars(ratelimit.limiter().local)),
    ]
    return "\n".join(parts)
