"""The counters store: one small interface, two backends (in-process and Redis).

It holds what must be global across nodes and cheap to touch on every call or request:
- `max_concurrent` slots: `acquire_slot(key, limit)` / `release_slot(key)`, read with `get`;
- per-holder leases: `acquire_lease(key, holder, limit, ttl_s)`, renewed by their holder and
  counted live with `count_leases`; each lease expires on its own, so the slot of a node that
  died drains after `ttl_s` even while other holders keep the key busy;
- per-call rate limits: `rate_limit(key, limit, window_s)` (a sliding window, so ten requests can
  never pass in any 1 s span, whatever the window alignment);
- idempotency records: `set_if_absent(key, "pending", ttl_s)` claims a key, `set_value` stores the
  response under the same key, `get_value` replays it.

Every compound operation is atomic in both backends (a critical section without an await
in-process, one Lua script in Redis). A key holds one kind of thing (a counter, a string value, a
rate window or a lease set); using it as another kind is a `TypeError` in both backends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class CountersUnavailableError(Exception):
    """The backing store (Redis) could not be reached, timed out or answered with an error."""


@dataclass(frozen=True)
class RateLimitResult:
    """The verdict of one rate-limit check (sliding window of `window_s`).

    `remaining` is how many more requests the window admits now; `reset_s` is when the oldest
    admitted request leaves the window (one more permit), which is also `retry_after_s` when the
    request was refused (0 when it was allowed). These feed `RateLimit-*` and `Retry-After`.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float


@runtime_checkable
class Counters(Protocol):
    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        """Add `amount` and return the new value; `ttl_s` (re)arms the key's expiry."""
        ...

    async def decr(self, key: str, amount: int = 1) -> int: ...

    async def get(self, key: str) -> int:
        """The counter's value; 0 when absent or expired."""
        ...

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        """Increment `key` only if it is below `limit`; True when a slot was taken. `ttl_s`
        re-arms the key's expiry on every slot taken: a safety net so the slots of a node that
        died without releasing them drain once the key is idle that long."""
        ...

    async def release_slot(self, key: str) -> None:
        """Give a slot back; never drives the count below zero."""
        ...

    async def acquire_lease(self, key: str, holder: str, limit: int, ttl_s: float) -> bool:
        """Atomically: drop the expired leases of `key`; if `holder` holds one, renew it to
        `ttl_s` from now and return True; else take one if fewer than `limit` are live."""
        ...

    async def renew_lease(self, key: str, holder: str, ttl_s: float) -> bool:
        """Push a live lease's expiry to `ttl_s` from now; False when it expired or never
        existed (the holder lost its slot)."""
        ...

    async def release_lease(self, key: str, holder: str) -> None:
        """Drop `holder`'s lease; idempotent."""
        ...

    async def count_leases(self, key: str) -> int:
        """Live leases of `key`; expired ones are never counted."""
        ...

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult:
        """Admit at most `limit` requests in any `window_s` span; a refused request uses no
        permit."""
        ...

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        """Store `value` only if `key` holds nothing; True when this call stored it."""
        ...

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None:
        """Overwrite; `ttl_s=None` keeps the value until deleted."""
        ...

    async def delete(self, key: str) -> None: ...

    def with_namespace(self, namespace: str) -> Counters:
        """A view whose keys live under `namespace`; it shares the connection (closing a view
        closes nothing)."""
        ...

    async def close(self) -> None: ...


def join_namespace(prefix: str, namespace: str) -> str:
    """Namespaces nest: `a` then `b` gives keys under `a:b:`."""
    name = namespace.strip(":")
    if not name or any(ch.isspace() for ch in name):
        raise ValueError(f"invalid namespace {namespace!r}")
    return f"{prefix}{name}:"


def check_rate_limit_args(limit: int, window_s: float) -> None:
    if limit < 1:
        raise ValueError(f"rate limit must be at least 1, got {limit}")
    if not (window_s > 0 and math.isfinite(window_s)):
        raise ValueError(f"rate-limit window must be a positive number of seconds, got {window_s}")


def check_lease_args(holder: str, limit: int = 1) -> None:
    # The empty member tags a Redis sorted set as a lease set (redis.py), so no holder may be it.
    if not holder:
        raise ValueError("a lease holder must be a non-empty string")
    if limit < 1:
        raise ValueError(f"lease limit must be at least 1, got {limit}")


def check_ttl(ttl_s: float | None) -> None:
    if ttl_s is not None and not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ValueError(f"ttl_s must be a positive number of seconds, got {ttl_s}")


def retry_after(allowed: bool, reset_s: float) -> float:
    """Whole milliseconds, rounded up, so a client that waits exactly this long gets through
    (rounded to microseconds first: 0.1 s computed as 0.10000000000000142 stays 100 ms)."""
    return 0.0 if allowed else max(math.ceil(round(reset_s * 1000, 3)), 1) / 1000
