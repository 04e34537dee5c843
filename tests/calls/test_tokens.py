"""Callback tokens on real calls (PRODUCT.md §6.6, §6.9): a `30min_with_refresh` agent gets a
fresh working token in a `token_refresh` frame (the cadence shrunk to a second here) and the old
one stays valid; a `ws_session` agent's token dies with the AI's socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from yotel.counters import Counters
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.tenancy.auth import CACHE_TTL_S
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node


@pytest.fixture
async def node(make_settings: Callable[..., Settings],
               counters: Counters) -> AsyncIterator[RunningNode]:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=62000, rtp_port_max=62998,
                             drain_timeout_s=1.0, token_refresh_s=1.0)
    async with running_node(settings, counters=counters) as running:
        yield running


async def place(node: RunningNode, http: httpx.AsyncClient, phone: Phone, ai: FakeVoiceAI,
                lifetime: str) -> tuple[str, Any]:
    agent = (await http.post("/api/v1/voice-agents", json={
        "name": lifetime, "ws_url": ai.url, "token_lifetime": lifetime})).json()
    call = (await http.post("/api/v1/calls", json={"to": phone.uri,
                                                   "voice_agent_id": agent["id"]})).json()
    session = await ai.next_session()
    await asyncio.wait_for(phone.answered.wait(), 10)
    return call["id"], session


async def session_status(http: httpx.AsyncClient, call_id: str, token: str) -> int:
    reply = await http.get(f"/api/v1/ai-sessions/{call_id}",
                           headers={"Authorization": f"Bearer {token}"})
    return reply.status_code


async def test_a_refreshed_token_works_and_the_old_one_still_does(
        node: RunningNode, make_tenant_key: Any) -> None:
    key = await make_tenant_key("voice_agents:write", "calls:write")
    phone = await Phone(RtpPortPool(63000, 63498)).start()
    try:
        async with FakeVoiceAI(mode="silent") as ai, httpx.AsyncClient(
                base_url=node.base_url, headers=key.headers, timeout=10) as http:
            call_id, session = await place(node, http, phone, ai, "30min_with_refresh")
            first = session.metadata["yotel_callback_token"]
            refresh = (await session.wait_for_text("token_refresh", timeout=10))[0]
            fresh = refresh["yotel_callback_token"]
            assert fresh != first and fresh.startswith("yt_cb_") and refresh["token_expires_at"]
            assert await session_status(http, call_id, fresh) == 200
            assert await session_status(http, call_id, first) == 200
            assert phone.dialog is not None
            await phone.dialog.bye()
    finally:
        await phone.close()


async def test_a_ws_session_token_is_revoked_when_the_socket_closes(
        node: RunningNode, make_tenant_key: Any) -> None:
    key = await make_tenant_key("voice_agents:write", "calls:write")
    phone = await Phone(RtpPortPool(63500, 63998)).start()
    try:
        async with FakeVoiceAI(mode="silent") as ai, httpx.AsyncClient(
                base_url=node.base_url, headers=key.headers, timeout=10) as http:
            call_id, session = await place(node, http, phone, ai, "ws_session")
            token = session.metadata["yotel_callback_token"]
            await asyncio.sleep(1.5)
            assert not session.of_type("token_refresh")  # ws_session agents get no refresh
            assert await session_status(http, call_id, token) == 200
            assert phone.dialog is not None
            await phone.dialog.bye()
            await asyncio.wait_for(session.closed.wait(), 5)
            await asyncio.sleep(CACHE_TTL_S + 0.5)  # a node trusts a checked token this long
            assert await session_status(http, call_id, token) == 401
    finally:
        await phone.close()
