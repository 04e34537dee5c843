"""Group commit for what live calls write: every call's state changes, events and tokens go
through one writer per node, which runs all the work queued meanwhile in ONE transaction.

A call setup writes a few small transactions (its row, its answer, its end); at a hundred setups
a second, one commit each is what the database cannot keep up with (SQLite has one writer; a
PostgreSQL commit waits for its fsync). Batched, the cost of a commit is shared by every call
that wrote meanwhile. Each piece of work still commits with what it writes (a state change and
its event together), and a call's pieces commit in the order they were submitted. If a batch
fails, its pieces are retried one per transaction, so one bad piece fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from yotel.aio.scope import TaskScope
from yotel.db.engine import Database

log = logging.getLogger(__name__)
Work = Callable[[AsyncSession], Awaitable[None]]
MAX_BATCH = 200


class HistoryWriter:
    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: list[tuple[Work, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._scope = TaskScope("history-writer")
        self._running = False
        self.batches = 0
        self.pieces = 0

    def start(self) -> None:
        if not self._running:
            self._running = True
            self._scope.spawn(self._run(), name="commit")

    async def submit(self, work: Work) -> None:
        """Run `work(session)` in the next batch; returns once it is committed (or raises what
        it raised). Without a running writer, it commits on its own."""
        if not self._running:
            await self._alone(work)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((work, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = (self._queue[:self._max_batch],
                                      self._queue[self._max_batch:])
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Work, asyncio.Future[None]]]) -> None:
        self.batches += 1
        self.pieces += len(batch)
        try:
            async with self._db.write() as session:
                for work, _ in batch:
                    await work(session)
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            for work, done in batch:  # find the piece that failed: one transaction each
                await self._settle(work, done)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _settle(self, work: Work, done: asyncio.Future[None]) -> None:
        try:
            await self._alone(work)
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def _alone(self, work: Work) -> None:
        async with self._db.write() as session:
            await work(session)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._queue:
            batch, self._queue = self._queue, []
            await self._commit(batch)
        self._running = False
        await self._scope.close()

