"""The counters store: one small interface, two backends (in-process and Redis).

It holds what must be global across nodes and cheap to touch on every call or request:
`max_concurrent` slots, per-call rate limits and idempotency records. Every compound operation
is atomic in both backends (a lock-free critical section in-process, a Lua script in Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class CountersUnavailableError(Exception):
    """The backing store (Redis) could not be reached or answered with an error."""


@dataclass(frozen=True)
class RateLimitResult:
    """The verdict of one rate-limit check (sliding window of `window_s`)."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    retry_after_s: float


@runtime_checkable
class Counters(Protocol):
    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int: ...

    async def decr(self, key: str, amount: int = 1) -> int: ...

    async def get(self, key: str) -> int: ...

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        """Increment `key` only if it is below `limit`; True when a slot was taken."""
        ...

    async def release_slot(self, key: str) -> None:
        """Give a slot back; never drives the count below zero."""
        ...

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult: ...

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool: ...

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    def with_namespace(self, namespace: str) -> Counters: ...

    async def close(self) -> None: ...


def join_namespace(prefix: str, namespace: str) -> str:
    """Namespaces nest: `a` then `b` gives keys under `a:b:`."""
    name = namespace.strip(":")
    if not name or any(ch.isspace() for ch in name):
        raise ValueError(f"invalid namespace {namespace!r}")
    return f"{prefix}{name}:"
