"""Redis counters: shared by every node (PRODUCT.md §9).

Every compound operation is one Lua script, so two nodes can never both take the last slot or
both pass a rate limit's last permit. Time for rate limits and leases comes from Redis (`TIME`),
not the nodes' clocks, so skew between hosts neither widens a window nor stretches a lease.
Every redis-py error is translated here into `CountersUnavailableError`; nothing from redis leaks
to callers.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from yotel.counters.base import (
    Counters,
    CountersUnavailableError,
    RateLimitResult,
    check_lease_args,
    check_rate_limit_args,
    check_ttl,
    join_namespace,
    retry_after,
)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_PREFIX = "yotel:"

_INCR = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return v
"""

# GET fails with WRONGTYPE on a rate window; a string that is not a number gets the error INCR
# would give, so both read as the caller's TypeError rather than an outage.
_NOT_INTEGER = "return redis.error_reply('ERR value is not an integer or out of range')"

# What Redis answers for a command on a key of another type; a sorted set that is not the kind
# the script expects (a rate window, a lease set) gets it too.
_WRONGTYPE = ("redis.error_reply('WRONGTYPE Operation against a key holding the wrong kind of "
              "value')")

_ACQUIRE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if not v then """ + _NOT_INTEGER + """ end
if v >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# DECR keeps the key's TTL; a missing or zero counter stays as it is.
_RELEASE = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if not v then """ + _NOT_INTEGER + """ end
if v > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# Sliding-window log: one sorted-set member per admitted hit, scored in microseconds of the
# server's clock. Refused hits are not recorded, so a client hammering a closed window does not
# keep it closed. The key expires one window after the last admitted hit.
_RATE = """
if redis.call('ZSCORE', KEYS[1], '') then return """ + _WRONGTYPE + """ end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset = window
if oldest[2] then reset = tonumber(oldest[2]) + window - now end
return {allowed, count, reset}
"""


# Leases: one sorted-set member per holder, scored by its expiry in microseconds of the server's
# clock. The empty member (score 0, never a holder: base.check_lease_args) tags the set as a lease
# set, so a rate window (also a sorted set) used as one, or the reverse, is a WRONGTYPE error as
# in the memory backend. Every write ends in `settle`: the key expires with its latest lease and
# is deleted with its last one, so an abandoned key vanishes on its own.
_LEASE_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
if not redis.call('ZSCORE', key, '') and redis.call('EXISTS', key) == 1 then
  return """ + _WRONGTYPE + """
end
local function settle()
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] == nil or tonumber(last[2]) <= now then
    redis.call('DEL', key)
  else
    redis.call('PEXPIRE', key, math.ceil((tonumber(last[2]) - now) / 1000))
  end
end
redis.call('ZREMRANGEBYSCORE', key, '(0', now)
"""

# ARGV: holder, limit, ttl in microseconds.
_LEASE_ACQUIRE = _LEASE_PRELUDE + """
local ok = 0
local live = math.max(redis.call('ZCARD', key) - 1, 0)
if redis.call('ZSCORE', key, ARGV[1]) or live < tonumber(ARGV[2]) then
  redis.call('ZADD', key, 0, '', now + tonumber(ARGV[3]), ARGV[1])
  ok = 1
end
settle()
return ok
"""

# ARGV: holder, ttl in microseconds.
_LEASE_RENEW = _LEASE_PRELUDE + """
local ok = 0
if redis.call('ZSCORE', key, ARGV[1]) then
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
  ok = 1
end
settle()
return ok
"""

_LEASE_RELEASE = _LEASE_PRELUDE + """
redis.call('ZREM', key, ARGV[1])
settle()
return 0
"""

_LEASE_COUNT = _LEASE_PRELUDE + """
settle()
return math.max(redis.call('ZCARD', key) - 1, 0)
"""


@dataclass(frozen=True)
class _Scripts:
    """Scripts registered once per client; redis-py runs them by SHA (EVALSHA) and loads them
    again after a server restart (NOSCRIPT)."""

    incr: AsyncScript
    acquire: AsyncScript
    release: AsyncScript
    rate: AsyncScript
    lease_acquire: AsyncScript
    lease_renew: AsyncScript
    lease_release: AsyncScript
    lease_count: AsyncScript

    @classmethod
    def register(cls, redis: Redis) -> _Scripts:
        sources = {"incr": _INCR, "acquire": _ACQUIRE, "release": _RELEASE, "rate": _RATE,
                   "lease_acquire": _LEASE_ACQUIRE, "lease_renew": _LEASE_RENEW,
                   "lease_release": _LEASE_RELEASE, "lease_count": _LEASE_COUNT}
        return cls(**{name: redis.register_script(src) for name, src in sources.items()})


def _is_type_error(exc: ResponseError) -> bool:
    """A counter operation on a key holding a string (or another Redis type): a caller's bug,
    reported as the memory backend reports it, not as an outage."""
    text = str(exc)
    return "not an integer" in text or "WRONGTYPE" in text


def _ms(ttl_s: float) -> int:
    check_ttl(ttl_s)
    return max(1, round(ttl_s * 1000))


def _us(ttl_s: float) -> int:
    check_ttl(ttl_s)
    return max(1, round(ttl_s * 1_000_000))


def _ms_arg(ttl_s: float | None) -> str:
    return "" if ttl_s is None else str(_ms(ttl_s))


def connect(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
            max_connections: int = DEFAULT_MAX_CONNECTIONS) -> Redis:
    """A client for `url` that fails within `timeout_s` instead of hanging on a stalled server.

    A blocking pool makes a burst wait for a connection instead of failing. redis-py retries
    once, on connection errors only (a pooled connection that died with a Redis restart); never
    on a timeout, since a timed-out script may have run and these operations are not idempotent.
    """
    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=timeout_s, decode_responses=True,
        socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1,
                    supported_errors=(RedisConnectionError,)))
    return Redis.from_pool(pool)  # the client owns (and closes) the pool


class RedisCounters(Counters):
    def __init__(self, redis: Redis, *, _prefix: str = DEFAULT_PREFIX,
                 _scripts: _Scripts | None = None, _owner: bool = True) -> None:
        self._redis = redis
        self._prefix = _prefix
        self._scripts = _scripts or _Scripts.register(redis)
        self._owner = _owner

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> RedisCounters:
        return cls(connect(url, timeout_s=timeout_s))

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        try:
            return await awaitable
        except ResponseError as exc:
            if _is_type_error(exc):
                raise TypeError(f"redis: {exc}") from exc
            raise CountersUnavailableError(f"redis: {exc}") from exc
        except RedisError as exc:
            raise CountersUnavailableError(f"redis: {exc}") from exc

    async def _run(self, script: AsyncScript, key: str, *args: str | int) -> Any:
        return await self._call(script(keys=[self._k(key)], args=list(args)))

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        return int(await self._run(self._scripts.incr, key, amount, _ms_arg(ttl_s)))

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self.incr(key, -amount)

    async def get(self, key: str) -> int:
        value = await self._call(self._redis.get(self._k(key)))
        if value is None:
            return 0
        try:
            return int(value)
        except ValueError:
            raise TypeError(f"key {key!r} holds a string value, not a counter") from None

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        return bool(await self._run(self._scripts.acquire, key, limit, _ms_arg(ttl_s)))

    async def release_slot(self, key: str) -> None:
        await self._run(self._scripts.release, key)

    async def acquire_lease(self, key: str, holder: str, limit: int, ttl_s: float) -> bool:
        check_lease_args(holder, limit)
        return bool(await self._run(self._scripts.lease_acquire, key, holder, limit, _us(ttl_s)))

    async def renew_lease(self, key: str, holder: str, ttl_s: float) -> bool:
        check_lease_args(holder)
        return bool(await self._run(self._scripts.lease_renew, key, holder, _us(ttl_s)))

    async def release_lease(self, key: str, holder: str) -> None:
        check_lease_args(holder)
        await self._run(self._scripts.lease_release, key, holder)

    async def count_leases(self, key: str) -> int:
        return int(await self._run(self._scripts.lease_count, key))

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult:
        check_rate_limit_args(limit, window_s)
        window_us = max(1, round(window_s * 1_000_000))
        allowed, count, reset_us = await self._run(self._scripts.rate, key, limit, window_us,
                                                   uuid.uuid4().hex)
        reset_s = max(int(reset_us), 0) / 1_000_000
        return RateLimitResult(bool(allowed), limit, max(limit - int(count), 0), reset_s,
                               retry_after(bool(allowed), reset_s))

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        done = await self._call(self._redis.set(self._k(key), value, px=_ms(ttl_s), nx=True))
        return bool(done)

    async def get_value(self, key: str) -> str | None:
        value = await self._call(self._redis.get(self._k(key)))
        return None if value is None else str(value)

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else _ms(ttl_s)
        await self._call(self._redis.set(self._k(key), value, px=px))

    async def delete(self, key: str) -> None:
        await self._call(self._redis.delete(self._k(key)))

    def with_namespace(self, namespace: str) -> RedisCounters:
        return RedisCounters(self._redis, _prefix=join_namespace(self._prefix, namespace),
                             _scripts=self._scripts, _owner=False)

    async def close(self) -> None:
        if self._owner:
            await self._call(self._redis.aclose())
