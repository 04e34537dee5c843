"""The Counters contract, run against every backend (see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from yotel.counters import Counters

Elapse = Callable[[float], Awaitable[None]]


async def test_incr_decr_get(counters: Counters) -> None:
    assert await counters.get("a") == 0
    assert await counters.incr("a") == 1
    assert await counters.incr("a", 4) == 5
    assert await counters.decr("a", 2) == 3
    assert await counters.decr("a", 5) == -2  # plain counters may go negative; slots may not
    assert await counters.get("a") == -2


async def test_incr_ttl_expires(counters: Counters, elapse: Elapse) -> None:
    await counters.incr("t", ttl_s=1.0)
    assert await counters.get("t") == 1
    await elapse(1.2)
    assert await counters.get("t") == 0


async def test_incr_without_ttl_keeps_the_existing_expiry(counters: Counters,
                                                          elapse: Elapse) -> None:
    await counters.incr("t", ttl_s=1.0)
    assert await counters.incr("t", 2) == 3
    await elapse(1.2)
    assert await counters.get("t") == 0


async def test_concurrent_slots_never_exceed_limit(counters: Counters) -> None:
    results = await asyncio.gather(*(counters.acquire_slot("va", 10) for _ in range(200)))
    assert sum(results) == 10
    assert await counters.get("va") == 10
    await counters.release_slot("va")
    assert await counters.get("va") == 9
    assert await counters.acquire_slot("va", 10)
    assert not await counters.acquire_slot("va", 10)


async def test_concurrent_acquire_and_release_balance(counters: Counters) -> None:
    async def hold() -> bool:
        if not await counters.acquire_slot("busy", 5):
            return False
        await asyncio.sleep(0)
        await counters.release_slot("busy")
        return True

    results = await asyncio.gather(*(hold() for _ in range(100)))
    assert sum(results) >= 5
    assert await counters.get("busy") == 0


async def test_slot_ttl_frees_slots_of_a_dead_holder(counters: Counters, elapse: Elapse) -> None:
    assert await counters.acquire_slot("s", 1, ttl_s=1.0)
    assert not await counters.acquire_slot("s", 1, ttl_s=1.0)
    await elapse(1.2)
    assert await counters.acquire_slot("s", 1, ttl_s=1.0)


async def test_release_never_goes_negative(counters: Counters) -> None:
    await counters.release_slot("empty")
    assert await counters.get("empty") == 0
    assert await counters.acquire_slot("empty", 1)
    await counters.release_slot("empty")
    await counters.release_slot("empty")
    assert await counters.get("empty") == 0


async def test_rate_limit_window(counters: Counters, elapse: Elapse) -> None:
    verdicts = [await counters.rate_limit("call:1", 10, 1.0) for _ in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert [v.remaining for v in verdicts[:10]] == list(range(9, -1, -1))
    assert all(v.retry_after_s == 0 and 0 < v.reset_s <= 1.0 for v in verdicts[:10])
    blocked = verdicts[-1]
    assert blocked.limit == 10 and blocked.remaining == 0
    assert 0 < blocked.retry_after_s <= 1.0 and blocked.retry_after_s >= blocked.reset_s
    await elapse(blocked.retry_after_s + 0.05)
    assert (await counters.rate_limit("call:1", 10, 1.0)).allowed


async def test_refused_requests_use_no_permit(counters: Counters, elapse: Elapse) -> None:
    for _ in range(2):
        assert (await counters.rate_limit("r", 2, 1.0)).allowed
    for _ in range(5):
        assert not (await counters.rate_limit("r", 2, 1.0)).allowed
    await elapse(1.1)
    assert [(await counters.rate_limit("r", 2, 1.0)).allowed for _ in range(3)] == [
        True, True, False]


async def test_concurrent_rate_limit_admits_exactly_the_limit(counters: Counters) -> None:
    verdicts = await asyncio.gather(*(counters.rate_limit("burst", 10, 30) for _ in range(100)))
    assert sum(v.allowed for v in verdicts) == 10


async def test_rate_limit_keys_are_independent(counters: Counters) -> None:
    for _ in range(3):
        await counters.rate_limit("x", 3, 10)
    assert not (await counters.rate_limit("x", 3, 10)).allowed
    assert (await counters.rate_limit("y", 3, 10)).allowed


async def test_idempotency_record_life_cycle(counters: Counters, elapse: Elapse) -> None:
    # Claim, store the response, replay; the record expires with its TTL.
    assert await counters.set_if_absent("idem", "pending", 1.0)
    assert not await counters.set_if_absent("idem", "other", 1.0)
    assert await counters.get_value("idem") == "pending"
    await counters.set_value("idem", '{"ok": true}', 1.0)
    assert await counters.get_value("idem") == '{"ok": true}'
    await elapse(1.2)
    assert await counters.get_value("idem") is None
    assert await counters.set_if_absent("idem", "again", 5)
    await counters.delete("idem")
    assert await counters.get_value("idem") is None


async def test_concurrent_set_if_absent_has_one_winner(counters: Counters) -> None:
    won = await asyncio.gather(*(counters.set_if_absent("k", str(i), 5) for i in range(50)))
    assert sum(won) == 1
    assert await counters.get_value("k") == str(won.index(True))


async def test_set_value_without_ttl_persists(counters: Counters, elapse: Elapse) -> None:
    await counters.set_value("k", "v", ttl_s=0.3)
    await counters.set_value("k", "w")  # overwriting without a TTL clears the old one
    await elapse(0.5)
    assert await counters.get_value("k") == "w"
    assert await counters.get_value("missing") is None


async def test_delete_clears_counters_and_rate_windows(counters: Counters) -> None:
    await counters.incr("c", 3)
    await counters.rate_limit("w", 1, 30)
    await counters.delete("c")
    await counters.delete("w")
    assert await counters.get("c") == 0
    assert (await counters.rate_limit("w", 1, 30)).allowed


async def test_namespaces_are_isolated(counters: Counters) -> None:
    a, b = counters.with_namespace("a"), counters.with_namespace("b")
    await a.incr("n", 5)
    await a.set_value("v", "x")
    await a.rate_limit("r", 1, 30)
    assert await b.get("n") == 0 and await counters.get("n") == 0
    assert await b.get_value("v") is None
    assert (await b.rate_limit("r", 1, 30)).allowed
    assert await a.with_namespace("x").get("n") == 0
    assert await counters.with_namespace("a").get("n") == 5  # same name, same keys
    await b.close()  # a view owns nothing: the store stays usable
    assert await a.get("n") == 5
    with pytest.raises(ValueError):
        counters.with_namespace(" ")


async def test_wrong_kind_of_value_is_a_type_error(counters: Counters) -> None:
    # One keyspace, as in Redis: a key holds a counter, a string or a rate window, and using it
    # as another kind is a caller's bug (TypeError), never an outage.
    await counters.set_value("s", "text")
    await counters.rate_limit("w", 5, 30)
    misuses: list[Callable[[], Awaitable[object]]] = [
        lambda: counters.incr("s"), lambda: counters.get("s"),
        lambda: counters.acquire_slot("s", 3), lambda: counters.release_slot("s"),
        lambda: counters.rate_limit("s", 5, 30), lambda: counters.incr("w"),
        lambda: counters.get("w"), lambda: counters.get_value("w"),
        lambda: counters.acquire_slot("w", 3)]
    for misuse in misuses:
        with pytest.raises(TypeError):
            await misuse()
    assert await counters.get_value("s") == "text"
    assert not await counters.set_if_absent("w", "claimed", 5)  # the window is something
    await counters.set_value("w", "replaced")  # an overwrite takes any key, as SET does
    assert await counters.get_value("w") == "replaced"


@pytest.mark.parametrize("limit,window_s", [(0, 1.0), (5, 0.0), (5, -1.0), (5, float("inf"))])
async def test_bad_rate_limit_arguments(counters: Counters, limit: int, window_s: float) -> None:
    with pytest.raises(ValueError):
        await counters.rate_limit("r", limit, window_s)


async def test_bad_ttl_is_refused(counters: Counters) -> None:
    with pytest.raises(ValueError):
        await counters.set_if_absent("k", "v", 0)
    with pytest.raises(ValueError):
        await counters.set_value("k", "v", -1)


async def test_two_nodes_share_slots_limits_and_records(
        two_redis_nodes: tuple[Counters, Counters]) -> None:
    a, b = two_redis_nodes
    got = await asyncio.gather(*(n.acquire_slot("cap", 7) for n in (a, b) for _ in range(100)))
    assert sum(got) == 7
    await b.release_slot("cap")
    assert await a.get("cap") == 6
    verdicts = await asyncio.gather(*(n.rate_limit("rl", 10, 5) for n in (a, b) for _ in range(15)))
    assert sum(v.allowed for v in verdicts) == 10
    assert await a.set_if_absent("once", "a", 5)
    assert not await b.set_if_absent("once", "b", 5)
    assert await b.get_value("once") == "a"
