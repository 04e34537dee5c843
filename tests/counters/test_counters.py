from __future__ import annotations

import asyncio

import pytest

from yotel.counters import Counters, CountersUnavailableError, MemoryCounters, counters_from_url
from yotel.counters.redis import RedisCounters


async def test_incr_decr_get(counters: Counters) -> None:
    assert await counters.get("a") == 0
    assert await counters.incr("a") == 1
    assert await counters.incr("a", 4) == 5
    assert await counters.decr("a", 2) == 3
    assert await counters.get("a") == 3


async def test_incr_ttl_expires(counters: Counters) -> None:
    await counters.incr("t", ttl_s=0.15)
    assert await counters.get("t") == 1
    await asyncio.sleep(0.3)
    assert await counters.get("t") == 0


async def test_concurrent_slots_never_exceed_limit(counters: Counters) -> None:
    results = await asyncio.gather(*(counters.acquire_slot("va", 10) for _ in range(200)))
    assert sum(results) == 10
    assert await counters.get("va") == 10
    await counters.release_slot("va")
    assert await counters.acquire_slot("va", 10)
    assert not await counters.acquire_slot("va", 10)


async def test_release_never_goes_negative(counters: Counters) -> None:
    await counters.release_slot("empty")
    assert await counters.get("empty") == 0


async def test_rate_limit_window(counters: Counters) -> None:
    verdicts = [await counters.rate_limit("call:1", 10, 0.5) for _ in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert verdicts[0].remaining == 9 and verdicts[9].remaining == 0
    blocked = verdicts[-1]
    assert blocked.limit == 10 and 0 < blocked.retry_after_s <= 0.5
    await asyncio.sleep(blocked.retry_after_s + 0.05)
    assert (await counters.rate_limit("call:1", 10, 0.5)).allowed


async def test_rate_limit_keys_are_independent(counters: Counters) -> None:
    for _ in range(3):
        await counters.rate_limit("x", 3, 10)
    assert not (await counters.rate_limit("x", 3, 10)).allowed
    assert (await counters.rate_limit("y", 3, 10)).allowed


async def test_set_if_absent_and_values(counters: Counters) -> None:
    assert await counters.set_if_absent("idem", "pending", 0.2)
    assert not await counters.set_if_absent("idem", "other", 0.2)
    assert await counters.get_value("idem") == "pending"
    await counters.set_value("idem", '{"ok": true}', 0.2)
    assert await counters.get_value("idem") == '{"ok": true}'
    await asyncio.sleep(0.35)
    assert await counters.get_value("idem") is None
    assert await counters.set_if_absent("idem", "again", 5)
    await counters.delete("idem")
    assert await counters.get_value("idem") is None


async def test_set_value_without_ttl_persists(counters: Counters) -> None:
    await counters.set_value("k", "v")
    assert await counters.get_value("k") == "v"
    assert await counters.get_value("missing") is None


async def test_namespaces_are_isolated(counters: Counters) -> None:
    a, b = counters.with_namespace("a"), counters.with_namespace("b")
    await a.incr("n", 5)
    assert await b.get("n") == 0
    assert await a.with_namespace("x").get("n") == 0
    with pytest.raises(ValueError):
        counters.with_namespace(" ")


async def test_two_nodes_share_slots_and_limits(two_redis_nodes: tuple[Counters, Counters]
                                                ) -> None:
    a, b = two_redis_nodes
    got = await asyncio.gather(*(n.acquire_slot("cap", 7) for n in (a, b) for _ in range(50)))
    assert sum(got) == 7
    verdicts = await asyncio.gather(*(n.rate_limit("rl", 10, 5) for n in (a, b) for _ in range(15)))
    assert sum(v.allowed for v in verdicts) == 10
    assert await a.set_if_absent("once", "a", 5)
    assert not await b.set_if_absent("once", "b", 5)


async def test_memory_clock_is_injectable() -> None:
    now = [100.0]
    c = MemoryCounters(clock=lambda: now[0])
    await c.set_value("k", "v", ttl_s=10)
    now[0] += 9.9
    assert await c.get_value("k") == "v"
    now[0] += 0.2
    assert await c.get_value("k") is None


async def test_unreachable_redis_is_translated() -> None:
    c = RedisCounters.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(CountersUnavailableError):
        await c.incr("x")
    await c.close()


def test_factory_picks_backend() -> None:
    assert isinstance(counters_from_url(None), MemoryCounters)
    assert isinstance(counters_from_url("redis://127.0.0.1:6379/0"), RedisCounters)
