"""Run the real API in-process for tests: `async with running_server(settings) as base_url:`.

A real uvicorn server on an ephemeral 127.0.0.1 port (real sockets, the real lifespan), so
clients under test — the SDK, httpx, websockets — talk HTTP exactly as they would in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.counters import Counters
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
