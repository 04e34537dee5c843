"""Shared fixtures: the test database (migrated once per session), optional Redis, a settings
factory, tenants with API keys, and a real API server on 127.0.0.1.

Backends come from the environment (docs/architecture.md, "Tests"):
- `YOTEL_TEST_DATABASE_URL` (CI: `postgresql+asyncpg://postgres@127.0.0.1:5432/test`), else a
  fresh SQLite file. On PostgreSQL each session runs in a throwaway database created beside the
  given one (so every session starts from an empty schema and concurrent sessions never share
  tables); when the role may not create databases, the given database's `public` schema is
  emptied instead.
- `YOTEL_TEST_REDIS_URL`, else in-process counters (`yotel.counters`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from yotel.counters import Counters, counters_from_url
from yotel.db import migrate
from yotel.db.engine import Database, backend_name
from yotel.settings import Settings
from yotel.tenancy.api_keys import create_api_key
from yotel.tenancy.tenants import create_tenant
from yotel.testing.server import running_server

TEST_SECRET_KEY = "test-secret-key-not-for-production"


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_scratch_database(url: str) -> str | None:
    """Create an empty PostgreSQL database beside `url`'s; its URL, or None if not permitted."""
    name = f"{make_url(url).database}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    except asyncpg.InsufficientPrivilegeError:
        return None
    finally:
        await connection.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_scratch_database(admin_url: str, scratch_url: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await connection.execute(
            f'DROP DATABASE IF EXISTS "{make_url(scratch_url).database}" WITH (FORCE)')
    finally:
        await connection.close()


async def _empty_public_schema(url: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await migrate.upgrade(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, session-wide test database. Tests isolate themselves by creating their own
    tenants, never by assuming empty tables."""
    configured = os.environ.get("YOTEL_TEST_DATABASE_URL")
    if not configured:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'yotel-test.db'}"
        asyncio.run(_migrate(url))
        yield url
        return
    if backend_name(configured) != "postgresql":
        asyncio.run(_migrate(configured))
        yield configured
        return
    scratch = asyncio.run(create_scratch_database(configured))
    if scratch is None:
        asyncio.run(_empty_public_schema(configured))
    url = scratch or configured
    asyncio.run(_migrate(url))
    yield url
    if scratch is not None:
        asyncio.run(drop_scratch_database(configured, scratch))


@pytest.fixture
async def scratch_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty, unmigrated database of the configured backend, dropped afterwards (for tests
    that change the schema itself, e.g. migration round trips)."""
    configured = os.environ.get("YOTEL_TEST_DATABASE_URL")
    if not configured or backend_name(configured) != "postgresql":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    scratch = await create_scratch_database(configured)
    if scratch is None:
        pytest.skip("the PostgreSQL role may not create databases")
    try:
        yield scratch
    finally:
        await drop_scratch_database(configured, scratch)


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    return os.environ.get("YOTEL_TEST_REDIS_URL") or None


@pytest.fixture
async def counters(redis_url: str | None) -> AsyncIterator[Counters]:
    """The counters the API server under test uses (Redis when `YOTEL_TEST_REDIS_URL` is set);
    shared with the test so it can fake live calls."""
    backend = counters_from_url(redis_url)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def make_settings(database_url: str, redis_url: str | None,
                  tmp_path: Path) -> Callable[..., Settings]:
    """Settings for the test backends; keyword arguments override any field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url, "redis_url": redis_url,
            "secret_key": SecretStr(TEST_SECRET_KEY), "data_dir": tmp_path,
            "recordings_dir": tmp_path / "recordings", "allow_insecure_urls": False,
            "api_port": 0, "sip_port": 0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@dataclass(frozen=True)
class TenantKey:
    tenant_id: str
    key_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


TenantKeyFactory = Callable[..., Awaitable[TenantKey]]


@pytest.fixture
def make_tenant_key(db: Database) -> TenantKeyFactory:
    """`await make_tenant_key("voice_agents:write", ...)`: a new tenant and a key with those
    scopes. Pass `tenant_id=` to add a key to an existing tenant."""

    async def make(*scopes: str, tenant_id: str | None = None,
                   name: str = "test tenant") -> TenantKey:
        if tenant_id is None:
            tenant_id = (await create_tenant(db, name=name)).id
        created = await create_api_key(db, tenant_id=tenant_id, scopes=list(scopes))
        return TenantKey(tenant_id=tenant_id, key_id=created.id, key=created.key)

    return make


@pytest.fixture
async def api_url(make_settings: Callable[..., Settings],
                  counters: Counters) -> AsyncIterator[str]:
    """Base URL of a real API server (default test settings) on an ephemeral port."""
    async with running_server(make_settings(), counters=counters) as url:
        yield url


@pytest.fixture
async def http(api_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api_url, timeout=10.0) as client:
        yield client


LEAK_GRACE_S = 2.0  # a test's last BYE or close may still be finishing when it returns


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail any test that leaves an asyncio task running (STYLE.md: no orphan tasks). Set up
    first, torn down last: every other fixture has closed what it opened by then."""
    before = asyncio.all_tasks()
    yield
    current = asyncio.current_task()
    pending = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=LEAK_GRACE_S)
    leaked = [t for t in pending if not t.done()]
    for task in leaked:
        task.cancel()
    if leaked:
        await asyncio.wait(leaked, timeout=1.0)
        names = ", ".join(sorted(t.get_name() + ":" + _coro_name(t) for t in leaked))
        pytest.fail(f"the test leaked {len(leaked)} running task(s): {names}")


def _coro_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)
