"""The media clock: one 20 ms ticker for every call on the node.

One timer for all calls instead of one per call keeps the wake-ups bounded whatever the call
count. Deadlines are computed from the start time (`start + n * step`), so lateness in one tick
does not accumulate into drift.

With `phases > 1` the period is cut into that many slots and each call is pinned to the
least-loaded slot: every call still ticks exactly every 20 ms, but a few hundred calls' work is
not done in one block, so a caller packet arriving meanwhile waits a fraction of it, and our
outgoing RTP leaves in small bursts instead of one large one.

The clock shares the event loop with SIP, RTP, WebSockets and the API, so it never runs two
steps without giving the loop a turn: when a step is already due it still yields, and when its
own work is what made it late (a tick longer than the period) it leaves the loop a reserve of
time (`RESERVE`) before the next step. A step that would fire more than `MAX_LATE_PERIODS`
behind its deadline is skipped forward by whole periods (counted in `skipped_ticks`) rather
than burst, so a fired tick is never later than that bound and a stalled loop recovers at once.

A subscriber that keeps a timeline of its own (a recording, an RTP timestamp) learns of the
periods skipped between two of its ticks from the due times (`Cadence`), and covers them.

Subscribers are told the step's due time, not the time it ran: after a stall the loop runs the
overdue step before it reads the sockets, and a tick that judged "overdue" by the wall clock
would fill with silence the slots whose packets are waiting, unread, in the socket buffer (and
those packets would then be late: lost). Judged by its due time, a late step fills only what
was overdue then, and the buffered packets, read between the catching-up steps, take their
slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from yotel.media.stats import Histogram

log = logging.getLogger(__name__)
TICK_S = 0.020
MAX_LATE_PERIODS = 5  # a step later than this is skipped ahead (whole periods) instead of fired
# The share of the loop's time the clock leaves to everything else when its own work overruns
# the period: after a step whose work took w, it sleeps at least w * RESERVE / (1 - RESERVE).
RESERVE = 0.25
Tickable = Callable[[float], None]
_Entry = tuple[int, Tickable]


class MediaClock:
    def __init__(self, period_s: float = TICK_S, *, phases: int = 1,
                 cost: Histogram | None = None) -> None:
        if phases < 1:
            raise ValueError("phases must be >= 1")
        self.period_s = period_s
        self.phases = phases
        self.cost = cost  # how long each step's work takes, if given
        self._slots: list[dict[int, Tickable]] = [{} for _ in range(phases)]
        self._snapshots: list[list[_Entry]] = [[] for _ in range(phases)]
        self._slot_of: dict[int, int] = {}
        self._failing: set[int] = set()  # subscribers whose failure was logged once already
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # steps fired (one per phase slot)
        self.late_ticks = 0  # steps fired more than one period behind their deadline
        self.skipped_ticks = 0  # whole periods skipped because the loop could not make them
        self.failed_callbacks = 0  # subscriber calls that raised (each subscriber logged once)
        self.max_lateness_s = 0.0  # the latest any fired step ran behind its deadline

    def subscribe(self, callback: Tickable) -> int:
        """Call `callback(due)` every period (`due`: the tick's scheduled loop time); returns a
        token for `unsubscribe`."""
        self._next_id += 1
        slot = min(range(self.phases), key=lambda i: len(self._slots[i]))
        self._slots[slot][self._next_id] = callback
        self._slot_of[self._next_id] = slot
        self._snapshots[slot] = list(self._slots[slot].items())
        return self._next_id

    def unsubscribe(self, token: int) -> None:
        slot = self._slot_of.pop(token, None)
        self._failing.discard(token)
        if slot is not None:
            del self._slots[slot][token]
            self._snapshots[slot] = list(self._slots[slot].items())

    @property
    def subscribers(self) -> int:
        return len(self._slot_of)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="media-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step_s = self.period_s / self.phases
        start = loop.time()
        step, work_s = 0, 0.0
        while True:
            step += 1
            delay = start + step * step_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                # Due already: still give the loop a turn (I/O callbacks, timers, other
                # tasks), and a reserve of time when it was our own work that overran.
                await asyncio.sleep(work_s * RESERVE / (1 - RESERVE) if work_s > step_s else 0)
            # Checked after every wait: someone else may have held the loop meanwhile.
            step = self._skip_late(start, step, step_s, loop.time())
            due = start + step * step_s
            self._note_lateness(loop.time() - due)
            started = time.perf_counter()
            self._fire(self._snapshots[step % self.phases], due)
            work_s = time.perf_counter() - started
            if self.cost is not None:
                self.cost.record(work_s)

    def _skip_late(self, start: float, step: int, step_s: float, now: float) -> int:
        """The step to fire now: `step` itself, or, when it is more than MAX_LATE_PERIODS
        behind, the same phase slot whole periods later (each slot keeps its cadence)."""
        behind = now - (start + step * step_s)
        if behind <= MAX_LATE_PERIODS * self.period_s:
            return step
        periods = int(behind / self.period_s)
        self.skipped_ticks += periods
        return step + periods * self.phases

    def _note_lateness(self, late_s: float) -> None:
        self.ticks += 1
        if late_s > self.period_s:
            self.late_ticks += 1
        self.max_lateness_s = max(self.max_lateness_s, late_s)

    def _fire(self, entries: list[_Entry], now: float) -> None:
        # Snapshots are rebuilt on (un)subscribe, so a tick allocates nothing and a callback
        # may unsubscribe itself safely.
        for token, callback in entries:
            try:
                callback(now)
            except Exception:  # one call's bug must not stop every call's audio
                self.failed_callbacks += 1
                if token not in self._failing:  # once per subscriber, not 50 times a second
                    self._failing.add(token)
                    log.exception("media tick failed (subscriber %d); its further failures "
                                  "are counted in failed_callbacks, not logged", token)


class Cadence:
    """One subscriber's ticks: how many whole periods the clock skipped between two of them."""

    __slots__ = ("_last", "_period_s")

    def __init__(self, period_s: float = TICK_S) -> None:
        self._period_s = period_s
        self._last: float | None = None

    def missed(self, due: float) -> int:
        """Periods skipped since the previous tick (`due`: this tick's due time), rounded to
        whole periods. A move to another phase slot (a call joining a conference) shifts the
        ticks by under a period: no skip when under half a period, else one, which covers
        time that did go by."""
        last, self._last = self._last, due
        if last is None:
            return 0
        return max(0, round((due - last) / self._period_s) - 1)
