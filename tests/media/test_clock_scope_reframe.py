"""The shared clock, the call task group, the 20 ms re-framer and the histograms."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time

import pytest

from yotel.aio.scope import ScopeClosed, TaskScope
from yotel.media.clock import Cadence, MediaClock
from yotel.media.reframe import Reframer
from yotel.media.stats import Histogram


async def test_clock_ticks_without_drift() -> None:
    clock = MediaClock()
    loop = asyncio.get_running_loop()
    times: list[float] = []
    clock.subscribe(times.append)
    start = loop.time()
    clock.start()
    await asyncio.sleep(0.5)
    await clock.stop()
    elapsed = loop.time() - start
    # Deadlines are absolute: the count tracks elapsed time even when ticks run late (a
    # loaded machine may stall the loop past MAX_LATE_PERIODS: those periods are skipped,
    # and counted).
    assert abs(len(times) + clock.skipped_ticks - elapsed / 0.02) <= 3
    assert clock.skipped_ticks <= 10


async def test_clock_survives_a_failing_subscriber_and_unsubscribes() -> None:
    clock = MediaClock(period_s=0.005)
    seen: list[float] = []

    def broken(_now: float) -> None:
        raise RuntimeError("boom")

    clock.subscribe(broken)
    token = clock.subscribe(seen.append)
    clock.start()
    await asyncio.sleep(0.05)
    clock.unsubscribe(token)
    count = len(seen)
    await asyncio.sleep(0.03)
    await clock.stop()
    assert count >= 3 and len(seen) == count


async def test_scope_cancels_tasks_and_closes_resources_newest_first() -> None:
    failures: list[BaseException] = []
    scope = TaskScope("t", on_failure=failures.append)
    order: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    scope.add(sock.close)
    scope.add(lambda: order.append("sync"))

    async def async_closer() -> None:
        order.append("async")

    scope.add(async_closer)
    forever = scope.spawn(asyncio.sleep(3600), name="forever")

    async def crash() -> None:
        raise ValueError("bad")

    scope.spawn(crash())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [type(e) for e in failures] == [ValueError]
    await scope.close()
    assert forever.cancelled() and scope.tasks == 0 and scope.resources == 0
    assert order == ["async", "sync"] and sock.fileno() == -1
    with pytest.raises(ScopeClosed):
        scope.spawn(asyncio.sleep(0))


def test_reframer_passes_20ms_and_cuts_30ms() -> None:
    r = Reframer()
    frame = bytes(range(160))
    assert r.push(1000, frame) == [(1000, frame)]
    out = r.push(2000, b"a" * 240) + r.push(2240, b"b" * 240)
    assert [(ts, len(f)) for ts, f in out] == [(2000, 160), (2160, 160), (2320, 160)]
    assert out[1][1] == b"a" * 80 + b"b" * 80
    assert r.push(9999, b"c" * 240) == [(9999, b"c" * 160)]  # a jump drops the leftover


def test_histogram_quantiles() -> None:
    h = Histogram()
    for ms in range(1, 101):
        h.record(ms / 10000)  # 0.1 .. 10 ms
    h.record(5.0)  # overflow bucket
    assert h.quantile_ms(0.5) == pytest.approx(5.1, abs=0.11)
    assert h.quantile_ms(1.0) == pytest.approx(100.1)
    assert Histogram().quantile_ms(0.5) is None


async def test_phased_clock_spreads_calls_and_keeps_each_at_20ms() -> None:
    clock = MediaClock(phases=4)
    seen: dict[int, list[float]] = {i: [] for i in range(8)}
    for i in range(8):
        clock.subscribe(seen[i].append)
    clock.start()
    await asyncio.sleep(0.5)
    await clock.stop()
    for times in seen.values():
        assert len(times) >= 15
        span = times[-1] - times[0]
        assert abs(span / (len(times) - 1) - 0.02) < 0.002  # each call: one tick per 20 ms
    firsts = sorted({round(seen[i][0] - seen[0][0], 3) for i in range(8)})
    assert len(firsts) >= 3  # pinned to different slots of the period


async def test_subscribers_get_the_due_time_even_when_the_tick_runs_late() -> None:
    clock = MediaClock()
    loop = asyncio.get_running_loop()
    told: list[tuple[float, float]] = []  # (due, when it ran)

    def stall_once(due: float) -> None:
        told.append((due, loop.time()))
        if len(told) == 3:
            time.sleep(0.07)  # the loop is stalled: the next ticks run late, catching up

    clock.subscribe(stall_once)
    clock.start()
    await asyncio.sleep(0.3)
    await clock.stop()
    dues = [due for due, _ in told]
    assert all(abs((b - a) - 0.02) < 1e-9 for a, b in itertools.pairwise(dues))  # no gap
    assert max(ran - due for due, ran in told) > 0.04  # some did run late, told their due time


def test_cadence_counts_the_periods_skipped_between_two_ticks() -> None:
    cadence = Cadence(0.02)
    assert cadence.missed(10.0) == 0  # the first tick: nothing before it
    assert cadence.missed(10.02) == 0
    assert cadence.missed(10.12) == 4  # 10.04 .. 10.10 never ran
    assert cadence.missed(10.128) == 0  # another phase slot (a conference): not a skip
    assert cadence.missed(10.148) == 0
