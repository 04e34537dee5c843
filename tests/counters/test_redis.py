"""What only the Redis backend can show: failures translated at the boundary, within a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from yotel.counters import Counters, CountersUnavailableError, counters_from_url
from yotel.counters.redis import RedisCounters

from .conftest import REDIS_URLS


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers: a stalled Redis."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_stalled_redis_fails_within_the_timeout(silent_server: int) -> None:
    c = RedisCounters.from_url(f"redis://127.0.0.1:{silent_server}/0", timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(CountersUnavailableError):
        await asyncio.wait_for(c.acquire_slot("x", 1), timeout=10)
    assert time.monotonic() - started < 5
    await c.close()


async def test_unreachable_redis_is_translated() -> None:
    c = RedisCounters.from_url("redis://127.0.0.1:1/0", timeout_s=0.5)
    for operation in (c.incr("x"), c.get_value("x"), c.rate_limit("x", 1, 1.0)):
        with pytest.raises(CountersUnavailableError):
            await operation
    await c.close()


async def test_factory_builds_redis_counters() -> None:
    c = counters_from_url("redis://127.0.0.1:1/0")
    assert isinstance(c, RedisCounters) and isinstance(c, Counters)
    await c.close()


@pytest.mark.skipif(not REDIS_URLS, reason="no Redis to test against")
async def test_scripts_reload_after_the_server_forgets_them() -> None:
    url = next(iter(REDIS_URLS.values()))
    c = RedisCounters.from_url(url)
    view = c.with_namespace(f"test-flush-{time.time_ns()}")
    try:
        assert await view.acquire_slot("s", 2)
        await c._redis.script_flush()  # what a Redis restart does to the script cache
        assert await view.acquire_slot("s", 2)
        assert not await view.acquire_slot("s", 2)
    finally:
        await view.delete("s")
        await c.close()


@pytest.mark.skipif(not REDIS_URLS, reason="no Redis to test against")
async def test_lease_key_expires_with_its_latest_lease() -> None:
    # An abandoned lease set (every holder's node died) must vanish on its own: its PEXPIRE
    # follows the latest member's expiry, up and down, and its last release deletes it.
    url = next(iter(REDIS_URLS.values()))
    c = RedisCounters.from_url(url)
    view = c.with_namespace(f"test-lease-ttl-{time.time_ns()}")
    raw = view._k("l")
    try:
        assert await view.acquire_lease("l", "short", 5, 5)
        assert 4000 < await c._redis.pttl(raw) <= 5000
        assert await view.acquire_lease("l", "long", 5, 60)
        assert 59000 < await c._redis.pttl(raw) <= 60000
        await view.release_lease("l", "long")
        assert 0 < await c._redis.pttl(raw) <= 5000
        await view.release_lease("l", "short")
        assert await c._redis.exists(raw) == 0
    finally:
        await view.delete("l")
        await c.close()
