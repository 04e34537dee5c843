"""The supervisor stream at the edges of its life, on the REST API alone (no call needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.counters import Counters
from yotel.settings import Settings


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
