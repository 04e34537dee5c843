"""Per-holder leases, run against every backend (see conftest.py).

A lease is one call's hold on one of an agent's `max_concurrent` slots. Each lease expires on its
own, so the slot of a node that died drains even while the agent stays busy with other calls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from yotel.counters import Counters

Elapse = Callable[[float], Awaitable[None]]


async def test_concurrent_leases_never_exceed_limit(counters: Counters) -> None:
    won = await asyncio.gather(*(counters.acquire_lease("agent", f"call-{i}", 10, 30)
                                 for i in range(200)))
    assert sum(won) == 10
    assert await counters.count_leases("agent") == 10
    assert not await counters.acquire_lease("agent", "late", 10, 30)
    await counters.release_lease("agent", f"call-{won.index(True)}")
    assert await counters.count_leases("agent") == 9
    assert await counters.acquire_lease("agent", "late", 10, 30)
    assert not await counters.acquire_lease("agent", "later", 10, 30)


async def test_reacquire_by_the_holder_is_idempotent_and_renews(counters: Counters,
                                                                elapse: Elapse) -> None:
    assert await counters.acquire_lease("a", "call-1", 1, 1.0)
    await elapse(0.6)
    # Full, yet the holder gets True: it already holds the slot (a retried acquire).
    assert await counters.acquire_lease("a", "call-1", 1, 1.0)
    assert not await counters.acquire_lease("a", "call-2", 1, 1.0)
    await elapse(0.6)  # 1.2 s after the first acquire, 0.6 s after the second
    assert await counters.count_leases("a") == 1
    assert not await counters.acquire_lease("a", "call-2", 1, 1.0)


async def test_dead_holders_lease_drains_while_the_agent_stays_busy(counters: Counters,
                                                                    elapse: Elapse) -> None:
    # The case a shared counter with a re-armed TTL gets wrong: "crashed" never renews, "live"
    # renews and new calls keep coming and going, yet the crashed call's slot drains on time.
    assert await counters.acquire_lease("a", "crashed", 3, 1.0)
    assert await counters.acquire_lease("a", "live", 3, 1.0)
    for step in range(3):
        await elapse(0.45)
        assert await counters.renew_lease("a", "live", 1.0)
        assert await counters.acquire_lease("a", f"short-{step}", 3, 1.0)
        await counters.release_lease("a", f"short-{step}")
    assert await counters.count_leases("a") == 1  # 1.35 s: "crashed" expired at 1.0 s
    assert not await counters.renew_lease("a", "crashed", 1.0)
    assert await counters.acquire_lease("a", "next-1", 3, 1.0)
    assert await counters.acquire_lease("a", "next-2", 3, 1.0)
    assert not await counters.acquire_lease("a", "next-3", 3, 1.0)


async def test_renew_after_expiry_is_false_and_count_ignores_expired(counters: Counters,
                                                                     elapse: Elapse) -> None:
    assert not await counters.renew_lease("a", "never", 1.0)
    assert await counters.acquire_lease("a", "short", 5, 1.0)
    assert await counters.acquire_lease("a", "long", 5, 30)
    assert await counters.renew_lease("a", "short", 1.0)
    assert await counters.count_leases("a") == 2
    await elapse(1.2)
    assert await counters.count_leases("a") == 1
    assert not await counters.renew_lease("a", "short", 1.0)
    assert await counters.count_leases("a") == 1  # a failed renew takes nothing back
    assert await counters.renew_lease("a", "long", 30)


async def test_release_is_idempotent(counters: Counters) -> None:
    await counters.release_lease("a", "nobody")  # no key at all
    assert await counters.acquire_lease("a", "one", 2, 30)
    assert await counters.acquire_lease("a", "two", 2, 30)
    await counters.release_lease("a", "one")
    await counters.release_lease("a", "one")
    await counters.release_lease("a", "stranger")
    assert await counters.count_leases("a") == 1
    assert not await counters.renew_lease("a", "one", 30)
    assert await counters.renew_lease("a", "two", 30)


async def test_the_key_vanishes_with_its_last_lease(counters: Counters, elapse: Elapse) -> None:
    # No empty lease set is left behind: the key is free for anything once its leases are gone.
    assert await counters.acquire_lease("released", "x", 1, 30)
    await counters.release_lease("released", "x")
    assert await counters.set_if_absent("released", "free", 5)
    assert await counters.acquire_lease("expired", "x", 1, 1.0)
    await elapse(1.2)
    assert await counters.count_leases("expired") == 0
    assert await counters.set_if_absent("expired", "free", 5)


async def test_leases_are_isolated_by_namespace(counters: Counters) -> None:
    a, b = counters.with_namespace("a"), counters.with_namespace("b")
    assert await a.acquire_lease("k", "h", 1, 30)
    assert await b.count_leases("k") == 0 and await counters.count_leases("k") == 0
    assert await b.acquire_lease("k", "other", 1, 30)
    assert await counters.with_namespace("a").count_leases("k") == 1
    await b.release_lease("k", "h")  # another namespace's holder of the same name: untouched
    assert await a.count_leases("k") == 1


async def test_lease_key_misuse_is_a_type_error(counters: Counters) -> None:
    await counters.set_value("s", "text")
    await counters.incr("c")
    await counters.rate_limit("w", 5, 30)  # a sorted set in Redis, like a lease set
    assert await counters.acquire_lease("l", "h", 1, 30)
    misuses: list[Callable[[], Awaitable[object]]] = []
    for other in ("s", "c", "w"):
        misuses += [lambda k=other: counters.acquire_lease(k, "h", 1, 30),
                    lambda k=other: counters.renew_lease(k, "h", 30),
                    lambda k=other: counters.release_lease(k, "h"),
                    lambda k=other: counters.count_leases(k)]
    misuses += [lambda: counters.get("l"), lambda: counters.incr("l"),
                lambda: counters.acquire_slot("l", 3), lambda: counters.release_slot("l"),
                lambda: counters.get_value("l"), lambda: counters.rate_limit("l", 5, 30)]
    for misuse in misuses:
        with pytest.raises(TypeError):
            await misuse()
    assert await counters.count_leases("l") == 1  # no misuse touched the leases
    assert (await counters.get_value("s"), await counters.get("c")) == ("text", 1)
    assert not await counters.set_if_absent("l", "claimed", 5)  # the lease set is something
    await counters.set_value("l", "replaced")  # an overwrite takes any key, as SET does
    assert await counters.get_value("l") == "replaced"


@pytest.mark.parametrize("holder,limit,ttl_s", [("", 1, 30.0), ("h", 0, 30.0), ("h", 1, 0.0),
                                                ("h", 1, float("nan"))])
async def test_bad_lease_arguments(counters: Counters, holder: str, limit: int,
                                   ttl_s: float) -> None:
    with pytest.raises(ValueError):
        await counters.acquire_lease("l", holder, limit, ttl_s)
    assert await counters.count_leases("l") == 0


async def test_two_nodes_share_leases(two_redis_nodes: tuple[Counters, Counters]) -> None:
    a, b = two_redis_nodes
    won = await asyncio.gather(*(node.acquire_lease("cap", f"{n}-{i}", 7, 30)
                                 for n, node in enumerate((a, b)) for i in range(100)))
    assert sum(won) == 7
    holders = [f"{n}-{i}" for n in range(2) for i in range(100)]
    winner = holders[won.index(True)]
    await b.release_lease("cap", winner)  # whichever node took it, the other can free it
    assert await a.count_leases("cap") == 6
    assert await a.acquire_lease("cap", winner, 7, 30)
    assert not await b.acquire_lease("cap", "b-late", 7, 30)
