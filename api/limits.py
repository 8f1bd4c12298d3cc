"""The auth-failure limiter: failed authentications counted per presented key prefix (a known key with a wrong
secret, or a revoked or expired one) and per client IP for everything else (no key, a malformed or unknown key).

A request whose key is valid always passes, whatever its IP or prefix has failed: the limit only turns further
*failures* of a bucket into 429 (with `Retry-After`) until its oldest failure leaves the one-minute window. So a
stale browser tab, or an attacker who knows a key's prefix, can make only failing requests fail faster; nobody
can lock a valid key out.

Embedded mode counts in the API process (`SlidingWindow`); with `redis_url` set, every API process shares the
counts through Redis (`RedisWindow`), so a client cannot multiply its tries by the number of processes behind the
balancer. If Redis does not answer, the limiter lets the request go on (authentication still decides).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol

from api.middleware import SlidingWindow

log = logging.getLogger(__name__)
WINDOW_S = 60.0
REDIS_PREFIX = "cityeye:auth-failures:"


class FailureWindow(Protocol):
    limit: int

    def retry_after(self, key: str) -> float: ...
    def hit(self, key: str) -> None: ...


class RedisWindow:
    """`SlidingWindow` over a Redis sorted set per key (scores: failure times), shared by every API process."""

    def __init__(self, url: str, limit: int, timeout_s: float, window_s: float = WINDOW_S, prefix: str = REDIS_PREFIX):
        import redis

        self.limit = limit
        self.window_s = window_s
        self.prefix = prefix
        self._errors = (redis.RedisError, OSError)
        self._client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def retry_after(self, key: str) -> float:
        now = time.time()
        name = self.prefix + key
        try:
            pipe = self._client.pipeline()
            pipe.zremrangebyscore(name, 0, now - self.window_s)
            pipe.zcard(name)
            pipe.zrange(name, 0, 0, withscores=True)
            _, count, oldest = pipe.execute()
        except self._errors as exc:
            log.warning("auth-failure limiter: Redis did not answer (%s); not limiting", exc)
            return 0.0
        if int(count) < self.limit or not oldest:
            return 0.0
        return max(float(oldest[0][1]) + self.window_s - now, 0.001)

    def hit(self, key: str) -> None:
        now = time.time()
        name = self.prefix + key
        try:
            pipe = self._client.pipeline()
            pipe.zadd(name, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
            pipe.zremrangebyscore(name, 0, now - self.window_s)
            pipe.expire(name, int(self.window_s) + 1)
            pipe.execute()
        except self._errors as exc:
            log.warning("auth-failure limiter: Redis did not answer (%s)", exc)

    def close(self) -> None:
        self._client.close()


def failure_window(limit: int, redis_url: str | None, timeout_s: float) -> FailureWindow:
    """Shared through Redis when `redis_url` is set (scale-out), in this process otherwise (embedded)."""
    if redis_url:
        return RedisWindow(redis_url, limit, min(timeout_s, 2.0))
    return SlidingWindow(limit, WINDOW_S)
