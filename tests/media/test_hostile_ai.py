"""Fairness between calls on the audio fork (issue P2.2 §3): one MediaEngine, nine calls from
nine phones over real sockets; eight voice AIs are hostile (floods of tiny audio, text, pings
and garbage, one 8 MiB message, one that never reads) and run in their own process, as they
would on the internet, so what they cost this process is only what the engine spends on
them. The ninth AI is well-behaved and counts the caller frames it gets: it must get ≥ 99 %
of them, its call must stay up, and the floods must be warned and then closed 4000."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from yotel.fork.client import AudioFork, ForkConfig
from yotel.fork.limits import ForkLimits
from yotel.media.call import Call, CallEnd
from yotel.media.engine import MediaEngine
from yotel.rtp.ports import RtpPortPool
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone

HOSTILE = ("flood_binary", "flood_binary", "flood_text", "flood_ping", "flood_ping", "garbage",
           "huge", "never_read")
FLOODS = {"flood_binary", "flood_text", "flood_ping", "garbage"}
LIMITS = ForkLimits(abuse_close_s=2.0)  # the defaults, but abuse is closed sooner
WINDOW_S = 6.0  # how much of the well-behaved call is measured while the others attack
MAX_WINDOW_S = 15.0
TAGGED = 3000  # frames of tagged caller audio (60 s): no tag repeats within the test


def tagged_audio() -> bytes:
    """Caller audio whose frame n starts with a 2-byte tag of n (never 0xFF, PCMU silence),
    so the AI can tell which frames it got and which were lost or filled with silence."""
    return b"".join(bytes((n // 200 + 1, n % 200 + 1)) + b"\x7e" * 158 for n in range(TAGGED))


def tag_of(frame: bytes) -> int | None:
    if frame[2:4] != b"\x7e\x7e":
        return None  # silence fill, or not ours
    return (frame[0] - 1) * 200 + frame[1] - 1


@contextlib.asynccontextmanager
async def hostile_ais() -> AsyncIterator[tuple[list[str], list[dict[str, Any]]]]:
    """The eight hostile AIs in a child process; their urls and, as sessions end, reports."""
    # Niced: on the internet an attacker's CPU is not ours; here its flooding loop must not
    # take the engine's core on a 2-core machine, or we would measure the scheduler.
    proc = await asyncio.create_subprocess_exec(
        "nice", "-n", "19", sys.executable, "-m", "yotel.testing.fake_ai", *HOSTILE,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    stdout = proc.stdout
    reports: list[dict[str, Any]] = []
    try:
        urls = json.loads(await asyncio.wait_for(stdout.readline(), 20))["urls"]

        async def collect() -> None:
            while line := await stdout.readline():
                reports.append(json.loads(line))

        reader = asyncio.ensure_future(collect())
        yield urls, reports
        proc.stdin.close()
        await asyncio.wait_for(reader, 10)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


class LoopWatch:
    """Samples the loop every 5 ms. A late wake-up is either the engine holding the loop (the
    process spent that CPU time itself) or the process not being run at all (a loaded machine:
    time passed with no CPU spent); only the first is the engine's doing."""

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []  # (seconds late, CPU seconds spent meanwhile)
        self.wall_s = self.cpu_s = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wall, cpu = loop.time(), time.process_time()
        try:
            await self._sample(loop)
        finally:
            self.wall_s, self.cpu_s = loop.time() - wall, time.process_time() - cpu

    async def _sample(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            started, cpu = loop.time(), time.process_time()
            await asyncio.sleep(0.005)
            late = loop.time() - started - 0.005
            if late > 0.03:
                self.stalls.append((late, time.process_time() - cpu))

    @property
    def longest_busy_s(self) -> float:
        return max((cpu for _, cpu in self.stalls), default=0.0)

    @property
    def descheduled_s(self) -> float:
        return sum(max(late - cpu, 0.0) for late, cpu in self.stalls)


async def place(engine: MediaEngine, phone: Phone, url: str, name: str) -> Call:
    config = ForkConfig(url=url, allow_insecure=True, limits=LIMITS)
    return await engine.originate(phone.uri, fork=(config, {"call_id": name}))  # type: ignore[arg-type]


async def answered(calls: list[Call]) -> None:
    async with asyncio.timeout(10):
        for call in calls:
            await call.answered.wait()
            while call.fork is None:
                await asyncio.sleep(0.01)


async def measure(session: FakeSession, watch: LoopWatch) -> list[int]:
    """The tags of the caller frames the well-behaved AI gets over the window: WINDOW_S of
    the caller's audio, given at most MAX_WINDOW_S (a loaded machine may not run us enough)."""
    first = len(session.binary)
    watcher = asyncio.ensure_future(watch.run())

    def tags() -> list[int]:
        return [tag for _, frame in session.binary[first:] if (tag := tag_of(frame)) is not None]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(MAX_WINDOW_S):
            while len(got := tags()) < WINDOW_S * 50 or max(got) - min(got) < WINDOW_S * 50:
                await asyncio.sleep(0.1)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    return tags()


async def wait_ended(calls: list[Call], timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(call.wait_ended() for call in calls))


async def test_eight_hostile_ais_cost_a_well_behaved_call_under_1_percent_of_its_audio(
        engine: MediaEngine) -> None:
    pool = RtpPortPool(35000, 36999)
    phones = [await Phone(pool).start() for _ in range(9)]
    watch = LoopWatch()
    try:
        async with FakeVoiceAI(mode="silent") as good_ai, hostile_ais() as (urls, reports):
            calls = [await place(engine, phones[i], url, f"hostile-{i}")
                     for i, url in enumerate(urls)]
            good = await place(engine, phones[8], good_ai.url, "good")
            await answered([*calls, good])
            forks = [call.fork for call in calls]
            for phone in phones[:8]:
                phone.send_audio(b"\x55" * 1600)
            phones[8].send_audio(tagged_audio())
            session = await good_ai.latest_session()
            await asyncio.sleep(0.5)  # the floods are on; measure from here
            got = await measure(session, watch)
            assert good.end is None, f"the well-behaved call ended: {good.end}"
            await wait_ended([c for c, f in zip(calls, HOSTILE, strict=True) if f in FLOODS], 8)
            ends = [call.end for call in calls]
            for call in [*calls, good]:
                await call.hangup()
                await call.wait_ended(5)
    finally:
        for phone in phones:
            await phone.close()
    check_the_good_call(got, watch)
    check_the_hostile_calls(ends, forks, reports)


def check_the_good_call(got: list[int], watch: LoopWatch) -> None:
    """Every tag from the first to the last the AI saw; at most 1 % missing, beyond what was
    lost while the OS did not run this process at all (other jobs on a shared machine)."""
    expected = max(got) - min(got) + 1
    lost = expected - len(set(got))
    excused = int(watch.descheduled_s / 0.02)
    share = watch.cpu_s / watch.wall_s
    print(f"well-behaved call: {len(set(got))} of {expected} caller frames, lost {lost}; "
          f"the process was not run for {watch.descheduled_s:.3f} s ({excused} frames); "
          f"longest the loop was held: {watch.longest_busy_s * 1000:.1f} ms CPU; "
          f"this process used {share:.0%} of a core")
    assert expected >= WINDOW_S * 50 * 0.9  # the phone really sent for the whole window
    assert lost <= expected * 0.01 + excused
    assert watch.longest_busy_s < 0.1  # a flood is handled in slices, never in one go
    # What excuses the descheduled time: this process did not ask for much CPU (nine calls
    # with recording and five floods cost about a fifth of a core), so being run less was
    # the machine's doing, not the floods' appetite.
    assert share < 0.5


def check_the_hostile_calls(ends: list[CallEnd | None], forks: list[AudioFork | None],
                            reports: list[dict[str, Any]]) -> None:
    """Floods were warned, then closed 4000 (outcome ai_disconnected); the rest stayed up."""
    for fault, end, fork in zip(HOSTILE, ends, forks, strict=True):
        assert fork is not None
        if fault in FLOODS:
            assert end is not None and end.outcome == "ai_disconnected", (fault, end)
            assert fork.violation is not None, fault
        else:
            assert end is None, (fault, end)
    for report in reports:
        if report["fault"] in FLOODS:
            # Our 4000 (asserted on our side above) sits behind the flood the AI is still
            # writing; if its loaded process has not read it when the close timeout aborts
            # the socket, it sees 1006.
            assert report["close_code"] in (4000, 1006), report
            assert "rate_limited" in report["warnings"], report
        elif report["fault"] == "huge":
            assert "playout_overflow" in report["warnings"], report
    assert {r["fault"] for r in reports} == set(HOSTILE)
