"""The dialer as a `yotel serve` runner component: started after `NodeServices` (it recovers
this node's claims of its last run once the node has closed that run's orphaned calls), stopped
before it (no new claims; this node's calls get `drain_s` to end and be settled)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from yotel.calls.service import CallService
from yotel.db.engine import Database
from yotel.dialer.loop import Dialer, DialerConfig

log = logging.getLogger("yotel.dialer")


class DialerComponent:
    name = "dialer"

    def __init__(self, db: Database, calls: CallService, config: DialerConfig) -> None:
        self.dialer = Dialer(db, calls, config)
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        await self.dialer.recover_own()
        self._task = asyncio.create_task(self.dialer.run(), name="dialer:loop")

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.dialer.drain()
        finally:
            self._stopped.set()
