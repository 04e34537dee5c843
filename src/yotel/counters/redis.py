"""Redis counters: shared by every node (PRODUCT.md §9).

Every compound operation is one Lua script, so two nodes can never both take the last slot or
both pass a rate limit's last permit. Time for rate limits comes from Redis (`TIME`), not the
nodes' clocks, so skew between hosts does not widen a window.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from yotel.counters.base import Counters, CountersUnavailableError, RateLimitResult, join_namespace

_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

_ACQUIRE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

_RELEASE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# Sliding-window log: one sorted-set member per permitted hit, scored in microseconds.
_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  allowed = 1
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, count, reset}
"""


def _ms(ttl_s: float | None) -> str:
    return "" if ttl_s is None else str(max(1, round(ttl_s * 1000)))


class RedisCounters(Counters):
    def __init__(self, redis: Redis, *, _prefix: str = "yotel:", _owner: bool = True) -> None:
        self._redis = redis
        self._prefix = _prefix
        self._owner = _owner

    @classmethod
    def from_url(cls, url: str) -> RedisCounters:
        # A blocking pool: a burst of calls waits for a connection instead of failing.
        pool = BlockingConnectionPool.from_url(url, max_connections=64, timeout=5,
                                               decode_responses=True)
        return cls(Redis.from_pool(pool))  # the client owns (and closes) the pool

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except RedisError as exc:
            raise CountersUnavailableError(f"redis: {exc}") from exc

    async def _eval(self, script: str, key: str, *args: str | int) -> Any:
        return await self._call(self._redis.eval(script, 1, self._k(key), *args))

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        return int(await self._eval(_INCR, key, amount, _ms(ttl_s)))

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self.incr(key, -amount)

    async def get(self, key: str) -> int:
        value = await self._call(self._redis.get(self._k(key)))
        return 0 if value is None else int(value)

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        return bool(await self._eval(_ACQUIRE, key, limit, _ms(ttl_s)))

    async def release_slot(self, key: str) -> None:
        await self._eval(_RELEASE, key)

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult:
        window_us = max(1, round(window_s * 1_000_000))
        allowed, count, reset_us = await self._eval(_RATE, key, limit, window_us, uuid.uuid4().hex)
        reset_s = max(int(reset_us), 0) / 1_000_000
        retry = 0.0 if allowed else max(reset_s, 0.001)
        return RateLimitResult(bool(allowed), limit, max(limit - int(count), 0), reset_s, retry)

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        done = await self._call(self._redis.set(self._k(key), value, px=_ms_int(ttl_s), nx=True))
        return bool(done)

    async def get_value(self, key: str) -> str | None:
        value = await self._call(self._redis.get(self._k(key)))
        return None if value is None else str(value)

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else _ms_int(ttl_s)
        await self._call(self._redis.set(self._k(key), value, px=px))

    async def delete(self, key: str) -> None:
        await self._call(self._redis.delete(self._k(key)))

    def with_namespace(self, namespace: str) -> RedisCounters:
        return RedisCounters(self._redis, _prefix=join_namespace(self._prefix, namespace),
                             _owner=False)

    async def close(self) -> None:
        if self._owner:
            await self._call(self._redis.aclose())


def _ms_int(ttl_s: float) -> int:
    return max(1, round(ttl_s * 1000))
