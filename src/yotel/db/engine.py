"""Engine configuration for the two first-class backends, and the session boundary.

SQLite (aiosqlite) is a real database here, not a toy: WAL so readers never block the writer,
foreign keys ON (SQLite leaves them off per connection), a busy timeout, and `BEGIN IMMEDIATE` for
write transactions so two writers queue on the lock up front instead of deadlocking on upgrade
from a read lock (SQLite docs, "BEGIN TRANSACTION": IMMEDIATE). PostgreSQL (asyncpg) pings a
pooled connection that sat idle before handing it out, so a restarted server does not hand out
dead connections (`_ping_when_idle`).

`Database.read()` / `Database.write()` are the only way services touch the database, and the place
where SQLAlchemy errors become `yotel.domain.errors` (they never leak past this module).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from yotel.db.base import encode_json
from yotel.domain.errors import Conflict, ServerError, ServiceUnavailable

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 15_000
IDLE_PING_S = 1.0  # a pooled PostgreSQL connection idle longer is pinged before use
_sqlite_begin: ContextVar[str] = ContextVar("yotel_sqlite_begin", default="DEFERRED")


def backend_name(url: str | URL) -> str:
    """`sqlite` or `postgresql` (the dialect part of the URL)."""
    return make_url(url).get_backend_name()


def _configure_sqlite(engine: AsyncEngine) -> None:
    # SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL (asyncio
    # version)": take over BEGIN from the driver so we can choose its mode and DDL is transactional.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
                       f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(f"BEGIN {_sqlite_begin.get()}")


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle longer than IDLE_PING_S.

    `pool_pre_ping` pings on every checkout: a round trip before every transaction, which
    was a quarter of a small write's cost. A connection checked in within the last
    IDLE_PING_S was working then; one idle longer (the server may have restarted meanwhile)
    is pinged, and if dead, replaced: a checkout listener's DisconnectionError makes the pool
    discard it and take a fresh one (SQLAlchemy, PoolEvents.checkout)."""
    sync = engine.sync_engine

    @event.listens_for(sync, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get("checked_in")
        if checked_in is None or time.monotonic() - checked_in < IDLE_PING_S:
            return  # new, or in use a moment ago
        try:
            sync.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError("a pooled connection failed its ping") from error


def create_engine(url: str) -> AsyncEngine:
    """An async engine configured for `url`'s backend (hide_parameters: no secrets in logs)."""
    backend = backend_name(url)
    if backend == "sqlite":
        engine = create_async_engine(
            url, hide_parameters=True, json_serializer=encode_json,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        # 20 kept: a node's steady concurrency (API, writers, dialer, webhooks) fits, so
        # bursts do not open and close overflow connections (a TCP + auth handshake each).
        engine = create_async_engine(url, hide_parameters=True, pool_size=20, max_overflow=10,
                                     json_serializer=encode_json)
        _ping_when_idle(engine)
        return engine
    raise ValueError(f"unsupported database backend {backend!r} (use sqlite or postgresql)")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Map SQLAlchemy/driver failures to the error tree (details stay in the server log)."""
    try:
        yield
    except exc.IntegrityError as error:
        log.info("integrity error: %s", error.orig.__class__.__name__)
        raise Conflict("the change conflicts with existing data") from error
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, OSError) as error:
        log.warning("database unavailable: %s", error.__class__.__name__)
        raise ServiceUnavailable("the database is unavailable") from error
    except exc.SQLAlchemyError as error:
        log.exception("database error")
        raise ServerError() from error


class Database:
    """One engine and its sessions; `read()` for queries, `write()` for a committed transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = backend_name(url)
        self.engine = create_engine(url)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Writers of this process take turns here instead of in
        # SQLite's busy handler, whose growing sleeps (up to 100 ms each) would make every
        # contended write wait far longer than the write itself.
        self._writer = asyncio.Lock() if self.backend == "sqlite" else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; its implicit transaction is rolled back on exit."""
        with translate_errors():
            async with self._sessions() as session:
                yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction (`BEGIN IMMEDIATE` on SQLite), committed when the block exits
        normally and rolled back when it raises."""
        async with self._turn():
            token = _sqlite_begin.set("IMMEDIATE")
            try:
                with translate_errors():
                    async with self._sessions() as session, session.begin():
                        yield session
            finally:
                _sqlite_begin.reset(token)

    @asynccontextmanager
    async def transaction(self, *, one_statement: bool = False
                          ) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a write transaction (migrations, bulk statements).

        `one_statement`: the block sends a single statement (an executemany included). On
        PostgreSQL that runs without BEGIN and COMMIT, each a round trip of its own: a
        statement outside a transaction is atomic by itself, and so is asyncpg's executemany
        (asyncpg >= 0.22)."""
        if one_statement and self.backend == "postgresql":
            with translate_errors():
                async with self.engine.connect() as connection:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                    yield connection
            return
        async with self._turn():
            token = _sqlite_begin.set("IMMEDIATE")
            try:
                with translate_errors():
                    async with self.engine.begin() as connection:
                        yield connection
            finally:
                _sqlite_begin.reset(token)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._writer is None:
            yield
            return
        async with self._writer:
            yield

    async def ping(self) -> None:
        """Raise `ServiceUnavailable` unless the database answers `SELECT 1`."""
        with translate_errors():
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
