"""One suite, every backend: memory always (on an injected clock); Redis at YOTEL_TEST_REDIS_URL
when set, and the local server at 127.0.0.1:6379 whenever it answers PING. Each test works in its
own namespace, deleted afterwards, so concurrent runs never collide."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from yotel.counters import Counters, MemoryCounters
from yotel.counters.redis import DEFAULT_PREFIX, RedisCounters

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _answers_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.settimeout(0.5)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_urls() -> dict[str, str]:
    urls: dict[str, str] = {}
    configured = os.environ.get("YOTEL_TEST_REDIS_URL")
    if configured:
        urls["redis-configured"] = configured
    if configured != LOCAL_REDIS and _answers_ping("127.0.0.1", 6379):
        urls["redis-local"] = LOCAL_REDIS
    return urls


REDIS_URLS = _redis_urls()
BACKENDS = ["memory", *REDIS_URLS]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """A namespaced store under test and how to let time pass for it."""

    counters: Counters
    elapse: Callable[[float], Awaitable[None]]


async def _drop_namespace(url: str, namespace: str) -> None:
    redis = Redis.from_url(url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{DEFAULT_PREFIX}{namespace}:*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    namespace = f"test-{uuid.uuid4().hex}"
    if request.param == "memory":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend(MemoryCounters(clock=clock).with_namespace(namespace), advance)
        return
    url = REDIS_URLS[request.param]
    root = RedisCounters.from_url(url)
    try:
        yield Backend(root.with_namespace(namespace), asyncio.sleep)
    finally:
        await root.close()
        await _drop_namespace(url, namespace)


@pytest.fixture
def counters(backend: Backend) -> Counters:
    return backend.counters


@pytest.fixture
def elapse(backend: Backend) -> Callable[[float], Awaitable[None]]:
    return backend.elapse


_NODE_PARAMS: list[str | None] = [*REDIS_URLS] or [None]


@pytest.fixture(params=_NODE_PARAMS)
async def two_redis_nodes(request: pytest.FixtureRequest
                          ) -> AsyncIterator[tuple[Counters, Counters]]:
    """Two separate clients (own pools, own scripts) on one Redis: two nodes."""
    if request.param is None:
        pytest.skip("no Redis: YOTEL_TEST_REDIS_URL unset and nothing answers at 127.0.0.1:6379")
    url = REDIS_URLS[request.param]
    namespace = f"test-{uuid.uuid4().hex}"
    a, b = RedisCounters.from_url(url), RedisCounters.from_url(url)
    try:
        yield a.with_namespace(namespace), b.with_namespace(namespace)
    finally:
        await a.close()
        await b.close()
        await _drop_namespace(url, namespace)
