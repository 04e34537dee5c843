"""The REST API as a runnable component: uvicorn on a socket we bind ourselves (so port 0 gives
an ephemeral port and bind errors surface as plain `OSError` before anything starts).

HTTP/1.1 is parsed by httptools (about half h11's CPU per request, on the loop that also runs the
20 ms media clock), through `connection.GuardedHttpProtocol`: read timeouts, a header size limit,
and refusals in the JSON envelope. An `Upgrade: websocket` request (the supervisor stream) is
handed by that protocol to uvicorn's sans-I/O `websockets` implementation (the library's
current API: the legacy one warns of its deprecation; it waits for the transport to drain, so a
slow reader slows its own writer), which pings every
`WS_PING_INTERVAL_S` (RFC 6455 §5.5.2) and refuses client messages over `WS_MAX_MESSAGE_BYTES`
(the stream is server-push: a client has nothing large to say)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from yotel.api.connection import protocol_class
from yotel.settings import HttpLimits

STARTUP_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 15.0
DEFAULT_LIMITS = HttpLimits()
WS_PING_INTERVAL_S = 20.0  # also the time a ping may wait for its pong before the close
WS_MAX_MESSAGE_BYTES = 64 * 1024


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol. Once a refusal has been sent as an HTTP response
    (the WebSocket Denial Response extension: our 401/403 envelope), the handshake is over;
    uvicorn 0.54 does not note it and logs "ASGI callable returned without completing
    handshake" at ERROR for every refused upgrade."""

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.http.response.body" and not message.get("more_body"):
            self.handshake_complete = True


class _EmbeddedServer(uvicorn.Server):
    """Signals belong to the process runner (`yotel serve`) or the test runner, not uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ApiServer:
    """Start/stop uvicorn serving `app` on `host:port` inside the running event loop."""

    name = "api"

    def __init__(self, app: FastAPI, *, host: str, port: int, access_log: bool = False,
                 limits: HttpLimits = DEFAULT_LIMITS) -> None:
        self._app = app
        self._limits = limits
        self._host = host
        self._port = port
        self._access_log = access_log
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("server not started")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._socket = sock
        config = uvicorn.Config(self._app, lifespan="on", log_level="warning", loop="none",
                                access_log=self._access_log, ws=WebSocketProtocol,
                                ws_ping_interval=WS_PING_INTERVAL_S,
                                ws_ping_timeout=WS_PING_INTERVAL_S,
                                ws_max_size=WS_MAX_MESSAGE_BYTES,
                                http=protocol_class(self._limits),  # httptools, guarded
                                timeout_keep_alive=self._limits.keep_alive_s,  # type: ignore[arg-type]
                                server_header=False)
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._serve(self._server, sock), name="yotel-api")
        await self._wait_started()

    @staticmethod
    async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn would exit the process when the lifespan fails
            raise RuntimeError("the API failed to start (see the log)") from exc

    async def _wait_started(self) -> None:
        assert self._server is not None and self._task is not None
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while not self._server.started:
                if self._task.done():
                    self._task.result()  # raises the startup failure, if any
                    raise RuntimeError("API server stopped during startup")
                await asyncio.sleep(0.01)

    async def wait(self) -> None:
        """Return when the server has stopped (on its own or after `stop()`)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, timeout=SHUTDOWN_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
