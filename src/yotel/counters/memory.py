"""In-process counters: the embedded default for one node.

asyncio runs one coroutine at a time and no method here awaits inside its critical section, so
each operation is atomic without a lock. Time comes from an injectable monotonic clock.

One keyspace holds counters, string values, rate windows and lease sets, as in Redis: using a
key as the wrong kind is a `TypeError` in both backends. Expired keys are dropped when touched
and, so that records nobody reads again (24 h idempotency records, the rate windows of ended
calls) do not pile up, by a sweep of the whole store at most once per `sweep_interval_s`, run
from a write.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from yotel.counters.base import (
    Counters,
    RateLimitResult,
    check_lease_args,
    check_rate_limit_args,
    check_ttl,
    join_namespace,
    retry_after,
)

Clock = Callable[[], float]
DEFAULT_SWEEP_INTERVAL_S = 60.0


@dataclass
class _Window:
    """The admitted hits of one sliding window, oldest first."""

    hits: deque[float] = field(default_factory=deque)

    def trim(self, now: float, window_s: float) -> None:
        while self.hits and self.hits[0] <= now - window_s:
            self.hits.popleft()


@dataclass
class _Leases:
    """Holder -> expiry of each lease; the key lives as long as its latest lease."""

    expiry: dict[str, float] = field(default_factory=dict)

    def trim(self, now: float) -> None:
        for holder in [h for h, at in self.expiry.items() if at <= now]:
            del self.expiry[holder]


_Value = int | str | _Window | _Leases


@dataclass
class _Entry:
    value: _Value
    expires_at: float | None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _kind(value: _Value) -> str:
    kinds = {int: "a counter", str: "a string value", _Window: "a rate window"}
    return kinds.get(type(value), "a lease set")


@dataclass
class _Store:
    clock: Clock
    sweep_interval_s: float
    entries: dict[str, _Entry] = field(default_factory=dict)
    next_sweep_at: float = 0.0

    def live(self, key: str) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None and entry.expired(self.clock()):
            del self.entries[key]
            return None
        return entry

    def expiry(self, ttl_s: float | None) -> float | None:
        check_ttl(ttl_s)
        return None if ttl_s is None else self.clock() + ttl_s

    def put(self, key: str, value: _Value, expires_at: float | None) -> None:
        self.maybe_sweep()
        self.entries[key] = _Entry(value, expires_at)

    def maybe_sweep(self) -> None:
        now = self.clock()
        if now < self.next_sweep_at:
            return
        self.next_sweep_at = now + self.sweep_interval_s
        for key in [k for k, e in self.entries.items() if e.expired(now)]:
            del self.entries[key]


class MemoryCounters(Counters):
    def __init__(self, *, clock: Clock = time.monotonic,
                 sweep_interval_s: float = DEFAULT_SWEEP_INTERVAL_S,
                 _store: _Store | None = None, _prefix: str = "") -> None:
        self._store = _store if _store is not None else _Store(clock, sweep_interval_s)
        self._prefix = _prefix

    def _k(self, key: str) -> str:
        return self._prefix + key

    def _int(self, key: str) -> int:
        entry = self._store.live(self._k(key))
        if entry is None:
            return 0
        if not isinstance(entry.value, int):
            raise TypeError(f"key {key!r} holds {_kind(entry.value)}, not a counter")
        return entry.value

    async def incr(self, key: str, amount: int = 1, *, ttl_s: float | None = None) -> int:
        value = self._int(key) + amount
        if ttl_s is None:
            entry = self._store.live(self._k(key))
            expires = None if entry is None else entry.expires_at
        else:
            expires = self._store.expiry(ttl_s)
        self._store.put(self._k(key), value, expires)
        return value

    async def decr(self, key: str, amount: int = 1) -> int:
        return await self.incr(key, -amount)

    async def get(self, key: str) -> int:
        return self._int(key)

    async def acquire_slot(self, key: str, limit: int, *, ttl_s: float | None = None) -> bool:
        if self._int(key) >= limit:
            return False
        await self.incr(key, ttl_s=ttl_s)  # completes without suspending: still atomic
        return True

    async def release_slot(self, key: str) -> None:
        if self._int(key) > 0:
            await self.incr(key, -1)

    async def acquire_lease(self, key: str, holder: str, limit: int, ttl_s: float) -> bool:
        check_lease_args(holder, limit)
        check_ttl(ttl_s)
        leases = self._leases(key)
        if holder not in leases.expiry and len(leases.expiry) >= limit:
            self._keep(key, leases)
            return False
        leases.expiry[holder] = self._store.clock() + ttl_s
        self._keep(key, leases)
        return True

    async def renew_lease(self, key: str, holder: str, ttl_s: float) -> bool:
        check_lease_args(holder)
        check_ttl(ttl_s)
        leases = self._leases(key)
        held = holder in leases.expiry
        if held:
            leases.expiry[holder] = self._store.clock() + ttl_s
        self._keep(key, leases)
        return held

    async def release_lease(self, key: str, holder: str) -> None:
        check_lease_args(holder)
        leases = self._leases(key)
        leases.expiry.pop(holder, None)
        self._keep(key, leases)

    async def count_leases(self, key: str) -> int:
        return len(self._leases(key).expiry)

    def _leases(self, key: str) -> _Leases:
        """The live leases of `key` (expired ones dropped), empty when the key is absent."""
        entry = self._store.live(self._k(key))
        if entry is None:
            return _Leases()
        if not isinstance(entry.value, _Leases):
            raise TypeError(f"key {key!r} holds {_kind(entry.value)}, not a lease set")
        entry.value.trim(self._store.clock())
        return entry.value

    def _keep(self, key: str, leases: _Leases) -> None:
        # As in Redis: the key expires with its latest lease and vanishes with its last one.
        if leases.expiry:
            self._store.put(self._k(key), leases, max(leases.expiry.values()))
        else:
            self._store.entries.pop(self._k(key), None)

    async def rate_limit(self, key: str, limit: int, window_s: float) -> RateLimitResult:
        check_rate_limit_args(limit, window_s)
        now = self._store.clock()
        window = self._window(key)
        window.trim(now, window_s)
        allowed = len(window.hits) < limit
        if allowed:
            window.hits.append(now)
            # As in Redis: the key lives one window past its last admitted hit.
            self._store.put(self._k(key), window, now + window_s)
        reset_s = window.hits[0] + window_s - now
        return RateLimitResult(allowed, limit, max(limit - len(window.hits), 0), reset_s,
                               retry_after(allowed, reset_s))

    def _window(self, key: str) -> _Window:
        entry = self._store.live(self._k(key))
        if entry is None:
            return _Window()
        if not isinstance(entry.value, _Window):
            raise TypeError(f"key {key!r} holds {_kind(entry.value)}, not a rate window")
        return entry.value

    async def set_if_absent(self, key: str, value: str, ttl_s: float) -> bool:
        if self._store.live(self._k(key)) is not None:
            return False
        self._store.put(self._k(key), value, self._store.expiry(ttl_s))
        return True

    async def get_value(self, key: str) -> str | None:
        entry = self._store.live(self._k(key))
        if entry is None:
            return None
        if not isinstance(entry.value, int | str):
            raise TypeError(f"key {key!r} holds {_kind(entry.value)}, not a string value")
        return str(entry.value)

    async def set_value(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._store.put(self._k(key), value, self._store.expiry(ttl_s))

    async def delete(self, key: str) -> None:
        self._store.entries.pop(self._k(key), None)

    def with_namespace(self, namespace: str) -> MemoryCounters:
        return MemoryCounters(_store=self._store, _prefix=join_namespace(self._prefix, namespace))

    async def close(self) -> None:
        """Nothing to release; present so both backends close the same way."""

    def stored_keys(self) -> int:
        """Keys held in the whole store (every namespace), expired ones included until the
        next sweep."""
        return len(self._store.entries)
