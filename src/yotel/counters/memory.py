"""In-process counters: the embedded default for one node.

asyncio runs one coroutine at a time and none of these methods awaits inside its critical
section, so each operation is atomic without a lock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from yotel.counters.base import Counters, RateLimitResult, join_namespace

Clock = Callable[[], float]


@dataclass
class _Entry:
    value: int | str
    expires_at: float | None


@dataclass
class _Store:
    clock: Clock
    entries: dict[str, _Entry] = field(default_factory=dict)
    windows: dict[str, deque[float]] = field(default_factory=dict)

    def live(self, key: str) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.clock():
            del self.entries[key]
            return None
        return entry

    def expiry(self, ttl_s: float | None) -> float | None:
        return None if ttl_s is None else self.clock() + ttl_s


class MemoryCounters(Counters):
    def __init__(self, *, clock: Clock = time.monotonic, _store: _Store | None = None,
                 _prefix: str = "") -> None:
        self._store = _store if _store is not None else _Store(clock)
        self._prefix = _prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _int(self, key: str) -> int:
        entry = self._store.live(self._k(key))
        if entry is None:
            return 0
        if not isinstance(entry.value, int):
            raise TypeError(f"counter {key!r} holds a string value")
        return entry.value

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        value = self._int(key) + amount
        entry = self._store.live(self._k(key))
        expires = entry.expires_at if entry is not None and ttl_s is None else None
        if ttl_s is not None:
            expires = self._store.expiry(ttl_s)
        self._store.entries[self._k(key)] = _Entry(value, expires)
        return value

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self.incr(key, -amount)

    async def get(self, key: str) -> int:
        return self._int(key)

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        if self._int(key) >= limit:
            return False
        await self.incr(key, ttl_s=ttl_s)
        return True

    async def release_slot(self, key: str) -> None:
        if self._int(key) > 0:
            await self.incr(key, -1)

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult:
        now = self._store.clock()
        hits = self._store.windows.setdefault(self._k(key), deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        allowed = len(hits) < limit
        if allowed:
            hits.append(now)
        reset_s = (hits[0] + window_s - now) if hits else window_s
        retry = 0.0 if allowed else max(reset_s, 0.001)
        return RateLimitResult(allowed, limit, max(limit - len(hits), 0), reset_s,
                               math.ceil(retry * 1000) / 1000)

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        if self._store.live(self._k(key)) is not None:
            return False
        self._store.entries[self._k(key)] = _Entry(value, self._store.expiry(ttl_s))
        return True

    async def get_value(self, key: str) -> str | None:
        entry = self._store.live(self._k(key))
        return None if entry is None else str(entry.value)

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._store.entries[self._k(key)] = _Entry(value, self._store.expiry(ttl_s))

    async def delete(self, key: str) -> None:
        self._store.entries.pop(self._k(key), None)
        self._store.windows.pop(self._k(key), None)

    def with_namespace(self, namespace: str) -> MemoryCounters:
        return MemoryCounters(_store=self._store, _prefix=join_namespace(self._prefix, namespace))

    async def close(self) -> None:
        """Nothing to release; present so both backends close the same way."""
