"""What only the in-process backend can show: exact timing on an injected clock, and the sweep."""

from __future__ import annotations

from yotel.counters import MemoryCounters, counters_from_url


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def test_ttl_boundary_on_the_injected_clock() -> None:
    clock = Clock()
    c = MemoryCounters(clock=clock)
    await c.set_value("k", "v", ttl_s=10)
    clock.now += 9.999
    assert await c.get_value("k") == "v"
    clock.now += 0.001
    assert await c.get_value("k") is None


async def test_window_slides_instead_of_resetting() -> None:
    # limit 2 per 1 s: hits at 0 and 0.6; at 0.9 refused until 1.0, when the first hit leaves.
    clock = Clock()
    c = MemoryCounters(clock=clock)
    start = clock.now
    assert (await c.rate_limit("r", 2, 1.0)).allowed
    clock.now = start + 0.6
    second = await c.rate_limit("r", 2, 1.0)
    assert second.allowed and second.remaining == 0 and abs(second.reset_s - 0.4) < 1e-9
    clock.now = start + 0.9
    refused = await c.rate_limit("r", 2, 1.0)
    assert not refused.allowed and refused.retry_after_s == 0.1
    clock.now = start + 1.0
    assert (await c.rate_limit("r", 2, 1.0)).allowed
    clock.now = start + 1.1
    assert not (await c.rate_limit("r", 2, 1.0)).allowed  # 0.6 and 1.0 are still inside


async def test_sweep_drops_records_nobody_reads_again() -> None:
    clock = Clock()
    c = MemoryCounters(clock=clock, sweep_interval_s=60)
    await c.set_value("first", "x")  # runs the first sweep; nothing to drop yet
    for i in range(100):
        await c.set_if_absent(f"idem:{i}", "pending", ttl_s=30)
        await c.rate_limit(f"call:{i}", 10, 1.0)
    assert c.stored_keys() == 201
    clock.now += 61
    await c.incr("live")  # a write past the interval sweeps the whole store
    assert c.stored_keys() == 2  # "first" (no TTL) and "live"


async def test_namespaced_views_share_one_store_and_clock() -> None:
    clock = Clock()
    root = MemoryCounters(clock=clock)
    view = root.with_namespace("tenant").with_namespace("calls")
    await view.set_value("k", "v", ttl_s=1)
    assert await root.with_namespace("tenant:calls").get_value("k") == "v"
    clock.now += 2
    assert await view.get_value("k") is None


def test_no_url_means_in_process_counters() -> None:
    assert isinstance(counters_from_url(None), MemoryCounters)
    assert isinstance(counters_from_url(""), MemoryCounters)


async def test_lease_expiry_boundary_and_sweep() -> None:
    clock = Clock()
    c = MemoryCounters(clock=clock, sweep_interval_s=60)
    assert await c.acquire_lease("l", "a", 2, 10)
    clock.now += 5
    assert await c.acquire_lease("l", "b", 2, 10)
    clock.now += 4.999
    assert await c.count_leases("l") == 2
    clock.now += 0.001  # "a" ends exactly at its expiry, as a Redis score <= TIME does
    assert await c.count_leases("l") == 1
    assert not await c.renew_lease("l", "a", 10)
    for i in range(50):  # abandoned lease sets: nobody touches them again
        await c.acquire_lease(f"agent:{i}", "call", 1, 30)
    clock.now += 61
    await c.incr("live")  # the sweep drops every lease set whose latest lease is over
    assert c.stored_keys() == 1
