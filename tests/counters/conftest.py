"""One suite, every backend: memory always; Redis from YOTEL_TEST_REDIS_URL, or the local
server when it answers. Each test gets its own namespace so runs never collide."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator

import pytest

from yotel.counters import Counters, MemoryCounters
from yotel.counters.redis import RedisCounters

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _redis_url() -> str | None:
    url = os.environ.get("YOTEL_TEST_REDIS_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.2).close()
    except OSError:
        return None
    return LOCAL_REDIS


REDIS_URL = _redis_url()
BACKENDS = ["memory"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=BACKENDS)
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    namespace = f"test-{uuid.uuid4().hex}"
    if request.param == "memory":
        root: Counters = MemoryCounters()
    else:
        assert REDIS_URL is not None
        root = RedisCounters.from_url(REDIS_URL)
    yield root.with_namespace(namespace)
    await root.close()


@pytest.fixture
async def two_redis_nodes() -> AsyncIterator[tuple[Counters, Counters]]:
    if REDIS_URL is None:
        pytest.fail("Redis is required for the cross-node tests (start it or set "
                    "YOTEL_TEST_REDIS_URL)")
    namespace = f"test-{uuid.uuid4().hex}"
    a, b = RedisCounters.from_url(REDIS_URL), RedisCounters.from_url(REDIS_URL)
    yield a.with_namespace(namespace), b.with_namespace(namespace)
    await a.close()
    await b.close()
