"""The supervisor stream at the edges of its life, on the REST API alone (no call needed)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from yotel.api.app import create_app
from yotel.api.routes import escalations as escalation_routes
from yotel.api.server import ApiServer
from yotel.counters import Counters
from yotel.escalations import hub_for
from yotel.settings import Settings

FRAMES = 300  # of 128 KiB: far more than a stuck socket's kernel buffers and queue can hold


async def test_a_stopping_server_closes_open_streams_as_going_away(
        make_settings: Callable[..., Settings], counters: Counters,
        make_tenant_key: Any) -> None:
    key = await make_tenant_key("supervisor")
    server = ApiServer(create_app(make_settings(), counters=counters), host="127.0.0.1", port=0)
    await server.start()
    url = server.base_url.replace("http://", "ws://") + "/api/v1/supervisor/stream"
    try:
        async with connect(url, additional_headers=key.headers) as ws:
            started = time.monotonic()
            stopping = asyncio.create_task(server.stop())
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(stopping, 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # restart
            assert time.monotonic() - started < 5
    finally:
        await server.stop()


async def _stuck_client(base_url: str, key: str) -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
    """A supervisor stream whose client completes the handshake and then never reads (a tiny
    receive buffer, so the server's writes back up quickly)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET /api/v1/supervisor/stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        f"Authorization: Bearer {key}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


async def test_a_supervisor_socket_that_never_reads_costs_a_bounded_queue_and_is_closed(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(escalation_routes, "SEND_TIMEOUT_S", 1.0)
    key = await make_tenant_key("supervisor")
    app = create_app(make_settings(), counters=counters)
    server = ApiServer(app, host="127.0.0.1", port=0)
    await server.start()
    url = server.base_url.replace("http://", "ws://") + "/api/v1/supervisor/stream"
    pad = "x" * 128 * 1024
    stuck: asyncio.StreamWriter | None = None
    try:
        _, stuck = await _stuck_client(server.base_url, key.key)
        async with connect(url, additional_headers=key.headers) as healthy:
            hub = hub_for(app.state.runtime.db)
            assert hub.listeners(key.tenant_id) == 2
            got: list[int] = []

            async def read() -> None:
                while len(got) < FRAMES:
                    got.append(json.loads(await healthy.recv())["n"])

            reading = asyncio.create_task(read())
            taken = []
            for n in range(FRAMES):  # each publish returns at once, whatever the sockets do
                started = time.monotonic()
                taken.append(hub.publish(key.tenant_id, {"type": "x", "n": n, "pad": pad}, ()))
                assert time.monotonic() - started < 0.5  # a wait on the socket: >= 1 s
                await asyncio.sleep(0.001)
            await asyncio.wait_for(reading, 20)
            assert got == list(range(FRAMES))  # the healthy one missed nothing
            assert taken[0] == 2 and 1 in taken  # the stuck one stopped taking: dropped
            async with asyncio.timeout(10):  # its one blocked write timed out: closed
                while hub.listeners(key.tenant_id) != 1:
                    await asyncio.sleep(0.05)
    finally:
        if stuck is not None:
            stuck.close()
        await server.stop()
