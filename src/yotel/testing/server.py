"""Run the real API in-process for tests: `async with running_server(settings) as base_url:`.

A real uvicorn server on an ephemeral 127.0.0.1 port (real sockets, the real lifespan), so
clients under test — the SDK, httpx, websockets — talk HTTP exactly as they would in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn

from yotel.api.app import create_app
from yotel.api.runtime import CounterBackend
from yotel.settings import Settings

STARTUP_TIMEOUT_S = 15.0


class _QuietServer(uvicorn.Server):
    """Leaves signal handling to the test runner / the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def running_server(settings: Settings, *,
                         counters: CounterBackend | None = None) -> AsyncIterator[str]:
    """Serve `create_app(settings)` until the block exits; yield its base URL
    (`http://127.0.0.1:<port>`). Settings must carry a secret key (see `load_settings`)."""
    app = create_app(settings, counters=counters)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                            loop="none", http="h11", ws="none")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"yotel-test-server:{port}")
    try:
        await _wait_started(server, task)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=STARTUP_TIMEOUT_S)
        sock.close()


async def _wait_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        while not server.started:
            if task.done():
                task.result()  # raises the startup failure
                raise RuntimeError("server stopped during startup")
            await asyncio.sleep(0.01)
