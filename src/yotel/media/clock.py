"""The media clock: one 20 ms ticker for every call on the node.

One timer for all calls instead of one per call keeps the wake-ups bounded whatever the call
count. Deadlines are computed from the start time (`start + n * step`), so lateness in one tick
does not accumulate into drift. A loop stalled for longer than `MAX_CATCH_UP` periods skips
ahead (and counts it) rather than bursting a backlog of frames at every peer.

With `phases > 1` the period is cut into that many slots and each call is pinned to the
least-loaded slot: every call still ticks exactly every 20 ms, but a few hundred calls' work is
not done in one block, so a caller packet arriving meanwhile waits a fraction of it, and our
outgoing RTP leaves in small bursts instead of one large one.
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
MAX_CATCH_UP = 5  # periods run back to back after a stall before the clock skips ahead
Tickable = Callable[[float], None]


class MediaClock:
    def __init__(self, period_s: float = TICK_S, *, phases: int = 1,
                 cost: Histogram | None = None) -> None:
        if phases < 1:
            raise ValueError("phases must be >= 1")
        self.period_s = period_s
        self.phases = phases
        self.cost = cost  # how long each step's work takes, if given
        self._slots: list[dict[int, Tickable]] = [{} for _ in range(phases)]
        self._snapshots: list[list[Tickable]] = [[] for _ in range(phases)]
        self._slot_of: dict[int, int] = {}
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # steps fired (one per phase slot)
        self.late_ticks = 0
        self.skipped_ticks = 0

    def subscribe(self, callback: Tickable) -> int:
        """Call `callback(now)` every period; returns a token for `unsubscribe`."""
        self._next_id += 1
        slot = min(range(self.phases), key=lambda i: len(self._slots[i]))
        self._slots[slot][self._next_id] = callback
        self._slot_of[self._next_id] = slot
        self._snapshots[slot] = list(self._slots[slot].values())
        return self._next_id

    def unsubscribe(self, token: int) -> None:
        slot = self._slot_of.pop(token, None)
        if slot is not None:
            del self._slots[slot][token]
            self._snapshots[slot] = list(self._slots[slot].values())

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
        step = 0
        while True:
            step += 1
            delay = start + step * step_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -self.period_s:
                self.late_ticks += 1
                behind = int(-delay / self.period_s)
                if behind > MAX_CATCH_UP:  # a long stall: resume from now, drop the backlog
                    step += behind * self.phases
                    self.skipped_ticks += behind
            self.ticks += 1
            started = time.perf_counter()
            self._fire(self._snapshots[step % self.phases], loop.time())
            if self.cost is not None:
                self.cost.record(time.perf_counter() - started)

    @staticmethod
    def _fire(callbacks: list[Tickable], now: float) -> None:
        # Snapshots are rebuilt on (un)subscribe, so a tick allocates nothing and a callback
        # may unsubscribe itself safely.
        for callback in callbacks:
            try:
                callback(now)
            except Exception:  # one call's bug must not stop every call's audio
                log.exception("media tick failed")
