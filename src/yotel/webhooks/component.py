"""The webhook dispatcher as a `yotel serve` runner component, started after `NodeServices`
(whose database it shares) and stopped before it. It is nudged by this node's own outbox
commits (`wakeup.watch_outbox`) and polls for the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from yotel.db.engine import Database
from yotel.domain.secretbox import SecretBox
from yotel.webhooks.dispatcher import Dispatcher, DispatcherConfig
from yotel.webhooks.wakeup import watch_outbox

DRAIN_S = 5.0


class WebhookComponent:
    name = "webhooks"

    def __init__(self, db: Database, box: SecretBox, config: DispatcherConfig) -> None:
        self.dispatcher = Dispatcher(db, box, config)
        self._db = db
        self._task: asyncio.Task[None] | None = None
        self._unwatch: Callable[[], None] = _nothing
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._unwatch = watch_outbox(self._db, self.dispatcher.nudge)
        self._task = asyncio.create_task(self.dispatcher.run(), name="webhooks:loop")

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        self._unwatch()
        if self._task is not None:
            await stop_between_passes(self.dispatcher, self._task)
        try:
            await self.dispatcher.close(DRAIN_S)
        finally:
            self._stopped.set()


async def stop_between_passes(dispatcher: Dispatcher, task: asyncio.Task[None],
                              timeout_s: float = 5.0) -> None:
    """Let the dispatcher's loop return between passes (never mid-transaction); cancel it only
    if it does not within `timeout_s`."""
    await dispatcher.stop_loop()
    done, _ = await asyncio.wait([task], timeout=timeout_s)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _nothing() -> None:
    return None
