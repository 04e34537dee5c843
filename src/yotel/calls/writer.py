"""Group commit for what live calls write: every call's state changes, events and tokens go
through one writer per node, which runs all the work queued meanwhile in ONE transaction.

A call setup writes a few small transactions (its row, its answer, its end); at a hundred setups
a second, one commit each is what the database cannot keep up with (SQLite has one writer; a
PostgreSQL commit waits for its fsync). Batched, the cost of a commit is shared by every call
that wrote meanwhile. Each piece of work still commits with what it writes (a state change and
its event together), and a call's pieces commit in the order they were submitted. If a batch
fails, its pieces are retried one per transaction, so one bad piece fails alone.

Most pieces are `Staged`: they only name rows to insert and rows to update by key, and read
nothing. A batch gathers them and runs each table's inserts, and each shape of update, as ONE
executemany Core statement, so a hundred calls' writes cost a handful of statements instead
of a thousand ORM flushes. The result is the submission order's: a piece that touches a row
another staged piece of the batch already touched starts a new segment, run after the last;
inserts run in foreign-key order; any other piece (a plain `Work`, which may read) runs after
everything staged before it and is flushed before anything staged after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import Update

from yotel.aio.scope import TaskScope
from yotel.db.base import Base
from yotel.db.engine import Database

log = logging.getLogger(__name__)
Work = Callable[[AsyncSession], Awaitable[None]]
MAX_BATCH = 200
_KEY = "_staged_key"  # the bind parameter of an update's key (no column is called that)


@dataclass(frozen=True, slots=True)
class UpdateShape:
    """`UPDATE table SET <columns> WHERE <key> = :key [AND <open_column> IS NULL]`."""

    table: Table
    key: str
    columns: tuple[str, ...]
    open_column: str | None = None  # only rows where this column is still NULL

    def statement(self) -> Update:
        built = _STATEMENTS.get(self)
        if built is None:
            where = [self.table.c[self.key] == bindparam(_KEY)]
            if self.open_column is not None:
                where.append(self.table.c[self.open_column].is_(None))
            built = _STATEMENTS[self] = self.table.update().where(*where).values(
                {name: bindparam(name) for name in self.columns})
        return built


_STATEMENTS: dict[UpdateShape, Update] = {}


@dataclass
class _Segment:
    inserts: dict[tuple[Table, tuple[str, ...]], list[dict[str, Any]]] = field(
        default_factory=dict)
    updates: dict[UpdateShape, list[dict[str, Any]]] = field(default_factory=dict)
    touched: set[tuple[str, str]] = field(default_factory=set)


class Pending:
    """The statements staged in one transaction, not yet sent."""

    def __init__(self) -> None:
        self._segments: list[_Segment] = [_Segment()]

    def insert(self, table: Table, row: dict[str, Any], *, key: str | None = None) -> None:
        """Insert `row` (column names to values); `key`, when a later piece may update the row
        in the same batch (its primary key, or what the update selects it by)."""
        segment = self._segment_for(table, key)
        segment.inserts.setdefault((table, tuple(row)), []).append(row)

    def update(self, shape: UpdateShape, key: str, values: dict[str, Any]) -> None:
        """Update the row(s) whose `shape.key` is `key` with `values` (its `shape.columns`)."""
        segment = self._segment_for(shape.table, key)
        segment.updates.setdefault(shape, []).append({_KEY: key, **values})

    def _segment_for(self, table: Table, key: str | None) -> _Segment:
        segment = self._segments[-1]
        if key is None:
            return segment
        touched = (table.name, key)
        if touched in segment.touched:  # run after what touched it first
            segment = _Segment()
            self._segments.append(segment)
        segment.touched.add(touched)
        return segment

    def __bool__(self) -> bool:
        last = self._segments[-1]
        return len(self._segments) > 1 or bool(last.inserts or last.updates)

    @property
    def statements(self) -> int:
        """How many statements `send` would run."""
        return sum(len(s.inserts) + len(s.updates) for s in self._segments)

    async def flush(self, session: AsyncSession) -> None:
        """Send what is staged, in order, in the session's transaction."""
        if self:
            await self.send(await session.connection())

    async def send(self, connection: AsyncConnection) -> None:
        """Send what is staged, in order, on `connection`."""
        segments, self._segments = self._segments, [_Segment()]
        for segment in segments:
            for (table, _), rows in sorted(segment.inserts.items(),
                                           key=lambda item: _TABLE_ORDER[item[0][0].name]):
                await connection.execute(table.insert(), rows)
            for shape, params in segment.updates.items():
                await connection.execute(shape.statement(), params)


_TABLE_ORDER = {table.name: rank for rank, table in enumerate(Base.metadata.sorted_tables)}


class Staged:
    """A piece of work that only stages statements (it reads nothing): batched by the writer.
    Called as a plain `Work` on a session, it stages and sends at once."""

    __slots__ = ("stage",)

    def __init__(self, stage: Callable[[Pending], None]) -> None:
        self.stage = stage

    async def __call__(self, session: AsyncSession) -> None:
        pending = Pending()
        self.stage(pending)
        await pending.flush(session)


async def run_alone(db: Database, work: Work) -> None:
    """`work` in a write transaction of its own."""
    async with db.write() as session:
        await work(session)


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
            await run_alone(self._db, work)
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
            await _run_batch(self._db, [work for work, _ in batch])
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
            await run_alone(self._db, work)
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def close(self) -> None:
        """Commit what is queued, then stop."""
        if self._queue:
            batch, self._queue = self._queue, []
            await self._commit(batch)
        self._running = False
        await self._scope.close()


async def _run_batch(db: Database, works: list[Work]) -> None:
    """`works` in one transaction; when all are staged, on a Core connection (no ORM session
    to set up), and when they come to one statement, without BEGIN and COMMIT on PostgreSQL
    (a batch of AI log entries: one UPDATE, one round trip)."""
    staged = [work for work in works if isinstance(work, Staged)]
    if len(staged) == len(works):
        pending = Pending()
        for piece in staged:
            piece.stage(pending)
        if pending:
            async with db.transaction(one_statement=pending.statements == 1) as connection:
                await pending.send(connection)
        return
    async with db.write() as session:
        await _run_mixed_batch(session, works)


async def _run_mixed_batch(session: AsyncSession, works: list[Work]) -> None:
    pending = Pending()
    for work in works:
        if isinstance(work, Staged):
            work.stage(pending)
            continue
        await pending.flush(session)  # a plain piece sees what was submitted before it
        await work(session)
        await session.flush()  # ... and what it changed precedes what comes after it
    await pending.flush(session)
