"""The media clock: one 20 ms ticker for every call on the node.

One timer for all calls instead of one per call keeps the wake-ups at 50/s whatever the call
count. Deadlines are computed from the start time (`start + n * 20 ms`), so lateness in one tick
does not accumulate into drift. A loop stalled for longer than `MAX_CATCH_UP` ticks skips ahead
(and counts it) rather than bursting a backlog of frames at every peer.
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
MAX_CATCH_UP = 5  # ticks run back to back after a stall before the clock skips ahead
Tickable = Callable[[float], None]


class MediaClock:
    def __init__(self, period_s: float = TICK_S, *, cost: Histogram | None = None) -> None:
        self.period_s = period_s
        self.cost = cost  # how long each tick's work takes (all calls), if given
        self._subscribers: dict[int, Tickable] = {}
        self._snapshot: list[Tickable] = []
        self._next_id = 0
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0
        self.late_ticks = 0
        self.skipped_ticks = 0

    def subscribe(self, callback: Tickable) -> int:
        """Call `callback(now)` on every tick; returns a token for `unsubscribe`."""
        self._next_id += 1
        self._subscribers[self._next_id] = callback
        self._snapshot = list(self._subscribers.values())
        return self._next_id

    def unsubscribe(self, token: int) -> None:
        if self._subscribers.pop(token, None) is not None:
            self._snapshot = list(self._subscribers.values())

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

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
        start = loop.time()
        tick = 0
        while True:
            tick += 1
            deadline = start + tick * self.period_s
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -self.period_s:
                self.late_ticks += 1
                behind = int(-delay / self.period_s)
                if behind > MAX_CATCH_UP:  # a long stall: resume from now, drop the backlog
                    tick += behind
                    self.skipped_ticks += behind
            self.ticks += 1
            started = time.perf_counter()
            self._fire(loop.time())
            if self.cost is not None:
                self.cost.record(time.perf_counter() - started)

    def _fire(self, now: float) -> None:
        # The snapshot is rebuilt on (un)subscribe, so a tick allocates nothing and a callback
        # may unsubscribe itself safely.
        for callback in self._snapshot:
            try:
                callback(now)
            except Exception:  # one call's bug must not stop every call's audio
                log.exception("media tick failed")
