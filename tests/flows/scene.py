"""What the inbound, flow and transfer tests share: a whole node (`running_node`), a tenant
set up over REST (voice agents, flows, numbers, agents, queues), test phones on their own RTP
ranges, and a local HTTP server for prompts. Real sockets everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from yotel.counters import Counters
from yotel.rtp import g711
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.sip.dialog import InviteFailed
from yotel.testing.audio import has_tone
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node

SCOPES = ("voice_agents:write", "flows:write", "numbers:write", "tenant:admin", "calls:read",
          "recordings:read")
NODE_RTP = {"rtp_port_min": 41000, "rtp_port_max": 42998}
PHONE_RANGES = [(40000, 40998), (43000, 43998), (44000, 44998), (45000, 45998)]


def new_did() -> str:
    """A fresh E.164 number (numbers are unique platform-wide, and the test DB is shared)."""
    return f"+1415{random.randrange(10**6, 10**7)}"


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def node_with(make_settings: Callable[..., Settings], counters: Counters,
                    **overrides: Any) -> AsyncIterator[RunningNode]:
    settings = make_settings(allow_insecure_urls=True, drain_timeout_s=1.0,
                             **(NODE_RTP | overrides))
    async with running_node(settings, counters=counters) as node:
        yield node


@contextlib.asynccontextmanager
async def phones(count: int, **kw: Any) -> AsyncIterator[list[Phone]]:
    started = [await Phone(RtpPortPool(*PHONE_RANGES[i]), **kw).start() for i in range(count)]
    try:
        yield started
    finally:
        for phone in started:
            await phone.close()


def did_uri(node: RunningNode, did: str) -> str:
    host, port = node.sip
    return f"sip:{did}@{host}:{port}"


def heard(phone: Phone, freq_hz: float, last: int = 40) -> bool:
    """The phone's latest RTP carries `freq_hz` (PCMU)."""
    frames = [payload for _, payload in phone.received[-last:]]
    return len(frames) >= last // 2 and has_tone(g711.decode(b"".join(frames), "pcmu"), freq_hz)


@dataclass
class Tenant:
    """A tenant's REST client, and helpers that create what a test needs."""

    http: httpx.AsyncClient
    tenant_id: str
    created: dict[str, Any] = field(default_factory=dict)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(f"/api/v1{path}", json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    async def voice_agent(self, ws_url: str, **kw: Any) -> str:
        return str((await self.post("/voice-agents", {"name": "ai", "ws_url": ws_url,
                                                       **kw}))["id"])

    async def flow(self, entry: str, nodes: list[dict[str, Any]],
                   edges: list[dict[str, Any]] | None = None) -> str:
        body = {"name": "flow", "entry": entry, "nodes": nodes, "edges": edges or []}
        return str((await self.post("/flows", body))["id"])

    async def number(self, flow_id: str | None) -> str:
        did = new_did()
        await self.post("/numbers", {"e164": did, "flow_id": flow_id})
        return did

    async def did_running(self, entry: str, nodes: list[dict[str, Any]],
                          edges: list[dict[str, Any]] | None = None) -> str:
        return await self.number(await self.flow(entry, nodes, edges))

    async def agent(self, contact: str, *, on_duty: bool = True) -> str:
        return str((await self.post("/agents", {"name": "human", "contact": contact,
                                                "on_duty": on_duty}))["id"])

    async def queue(self, name: str, agent_ids: list[str], strategy: str) -> str:
        return str((await self.post("/agent-queues", {"name": name, "agent_ids": agent_ids,
                                                      "strategy": strategy}))["id"])

    async def inbound_calls(self) -> list[dict[str, Any]]:
        response = await self.http.get("/api/v1/calls", params={"direction": "inbound"})
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def ended_call(self, timeout: float = 10.0, *,
                         recording: bool = False) -> dict[str, Any]:
        """The tenant's one inbound call, once its record is final (and, with `recording`,
        once its recording is ready: `call.recording_ready` comes after `call.ended`)."""

        async def ended() -> dict[str, Any] | None:
            calls = await self.inbound_calls()
            done = calls and calls[0]["state"] == "ended" and (
                calls[0]["recording"] or not recording)
            return calls[0] if done else None

        return dict(await wait_for(ended, timeout))


@contextlib.asynccontextmanager
async def tenant(node: RunningNode, make_tenant_key: Any) -> AsyncIterator[Tenant]:
    key = await make_tenant_key(*SCOPES)
    async with httpx.AsyncClient(base_url=node.base_url, headers=key.headers,
                                 timeout=10) as http:
        yield Tenant(http, key.tenant_id)


def connect(agent_id: str, node_id: str = "ai") -> dict[str, Any]:
    return {"id": node_id, "type": "connect_voice_agent", "data": {"voice_agent_id": agent_id}}


def hangup(node_id: str = "bye") -> dict[str, Any]:
    return {"id": node_id, "type": "hangup"}


async def ai_session(ai: FakeVoiceAI, timeout: float = 10.0) -> FakeSession:
    """The AI's next session, once its metadata frame has arrived."""
    session = await ai.next_session(timeout)
    await session.wait_for_text("metadata", timeout=timeout)
    return session


async def refused(phone: Phone, uri: str) -> int:
    """Call `uri`, expecting a refusal: its status. (The phone opened an RTP socket for the
    offer; it is closed here, as the phone keeps only its latest.)"""
    try:
        await phone.call(uri)
    except InviteFailed as exc:
        return exc.status
    finally:
        if phone.rtp is not None and phone.dialog is None:
            phone.rtp.close()
    raise AssertionError(f"{uri} was answered")


@contextlib.asynccontextmanager
async def audio_server(files: dict[str, bytes]) -> AsyncIterator[str]:
    """A minimal HTTP/1.1 server on 127.0.0.1 serving `files` by path (404 otherwise); yields
    its base URL. One request per connection, as `load_audio` makes them."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            body = files.get(path)
            status = "200 OK" if body is not None else "404 Not Found"
            payload = body if body is not None else b"no"
            writer.write(f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Type: audio/wav"
                         f"\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        listener.close()
        await listener.wait_closed()
