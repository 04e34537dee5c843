"""Run the real API in-process for tests: `async with running_server(settings) as base_url:`.

A real uvicorn server on an ephemeral 127.0.0.1 port (real sockets, the real lifespan), so
clients under test — the SDK, httpx, websockets — talk HTTP exactly as they would in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.counters import Counters
from yotel.node import NodeServices
from yotel.settings import Settings


@contextlib.asynccontextmanager
async def running_server(settings: Settings, *,
                         counters: Counters | None = None) -> AsyncIterator[str]:
    """Serve `create_app(settings)` until the block exits; yield its base URL
    (`http://127.0.0.1:<port>`). Settings must carry a secret key (`load_settings` makes one).
    `counters` may be shared with the test (e.g. to fake live calls); by default the app builds
    its own from `settings.redis_url`."""
    server = ApiServer(create_app(settings, counters=counters), host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server.base_url
    finally:
        await server.stop()


@dataclass(frozen=True)
class RunningNode:
    """A whole node in-process: `base_url` of its API, `sip` its SIP address, `services` its
    database, counters, media engine and call layer."""

    base_url: str
    sip: tuple[str, int]
    services: NodeServices


@contextlib.asynccontextmanager
async def running_node(settings: Settings, *,
                       counters: Counters | None = None) -> AsyncIterator[RunningNode]:
    """What `yotel serve` runs (the call layer, SIP and the API), on ephemeral ports when the
    settings say port 0; stopped (calls drained per `drain_timeout_s`) when the block exits."""
    node = NodeServices(settings, counters=counters)
    server = ApiServer(create_app(settings, shared=node.shared), host="127.0.0.1", port=0)
    await node.start()
    try:
        await server.start()
        try:
            yield RunningNode(server.base_url, node.engine.sip_address, node)
        finally:
            await server.stop()
    finally:
        await node.stop()
