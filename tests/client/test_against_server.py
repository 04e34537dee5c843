"""The SDK against the real API server on a real socket (sync client in a worker thread, since
the server shares the test's event loop)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from yotel import (
    APIConnectionError,
    AsyncYotel,
    AudioConfig,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    RetryPolicy,
    ValidationError,
    Yotel,
)

TenantKeyFactory = Callable[..., Awaitable[Any]]
URL = "wss://ai.example.com/stream"


async def test_async_voice_agent_crud_round_trip(api_url: str,
                                                 make_tenant_key: TenantKeyFactory) -> None:
    key = await make_tenant_key("voice_agents:write", "tenant:admin")
    async with AsyncYotel(key.key, api_url) as client:
        agent = await client.voice_agents.create(name="support", ws_url=URL,
                                                 auth_token="s3cret", audio={"encoding": "pcma"},
                                                 max_concurrent=5, subprotocol="audio.jambonz.org")
        assert agent.has_auth_token and agent.audio.encoding == "pcma"
        assert agent.max_concurrent == 5 and agent.active_calls == 0
        assert "s3cret" not in agent.model_dump_json()
        fetched = await client.voice_agents.get(agent.id)
        assert fetched.id == agent.id and fetched.subprotocol == "audio.jambonz.org"
        updated = await client.voice_agents.update(agent.id, name="renamed", auth_token=None)
        assert updated.name == "renamed" and not updated.has_auth_token
        updated = await client.voice_agents.update(agent.id, audio=AudioConfig(encoding="pcmu"))
        assert updated.audio.encoding == "pcmu" and updated.name == "renamed"
        tenant = await client.tenant.update(default_voice_agent_id=agent.id)
        assert tenant.default_voice_agent_id == agent.id
        assert (await client.tenant.get()).default_voice_agent_id == agent.id
        with pytest.raises(ConflictError) as busy:  # the tenant default may not vanish
            await client.voice_agents.delete(agent.id)
        assert busy.value.status == 409 and busy.value.request_id
        await client.tenant.update(default_voice_agent_id=None)
        await client.voice_agents.delete(agent.id)
        with pytest.raises(NotFoundError):
            await client.voice_agents.get(agent.id)


async def test_async_iteration_follows_cursors(api_url: str,
                                               make_tenant_key: TenantKeyFactory) -> None:
    key = await make_tenant_key("voice_agents:write")
    async with AsyncYotel(key.key, api_url) as client:
        made = {(await client.voice_agents.create(name=f"a{i}", ws_url=URL)).id for i in range(5)}
        page = await client.voice_agents.list(limit=2)
        assert len(page.data) == 2 and page.next_cursor
        seen = [agent.id async for agent in client.voice_agents.iter(limit=2)]
        assert set(seen) == made and len(seen) == 5


async def test_sync_client_round_trip_and_errors(api_url: str,
                                                 make_tenant_key: TenantKeyFactory) -> None:
    writer = await make_tenant_key("voice_agents:write")
    reader = await make_tenant_key("voice_agents:read", tenant_id=writer.tenant_id)
    other = await make_tenant_key("voice_agents:read")

    def scenario() -> None:
        with Yotel(writer.key, api_url) as client:
            agent = client.voice_agents.create(name="sync", ws_url=URL)
            assert [a.id for a in client.voice_agents.iter()] == [agent.id]
            with pytest.raises(ValidationError) as bad:
                client.voice_agents.create(name="x", ws_url="ws://insecure.example.com")
            assert bad.value.status == 400 and (bad.value.request_id or "").startswith("req_")
            assert bad.value.type == "validation_error" and bad.value.details
        with Yotel(reader.key, api_url) as client:
            assert client.voice_agents.get(agent.id).name == "sync"
            with pytest.raises(PermissionDenied):
                client.voice_agents.delete(agent.id)
        with Yotel(other.key, api_url) as client, pytest.raises(NotFoundError):
            client.voice_agents.get(agent.id)
        with Yotel("yt_live_nope", api_url) as client, pytest.raises(AuthenticationError):
            client.voice_agents.list()

    await asyncio.to_thread(scenario)


async def test_refused_connection_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    policy = RetryPolicy(max_retries=2, initial_delay_s=0.05, jitter=0)
    async with AsyncYotel("yt_live_x", f"http://127.0.0.1:{port}", retry=policy) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as info:
            await client.voice_agents.list()
        assert time.monotonic() - started >= 0.15  # waited 0.05 + 0.1 between the 3 tries
    assert info.value.status is None and "ConnectError" in str(info.value)
