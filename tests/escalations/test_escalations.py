"""Escalations through a whole node: a live call placed to a phone, the AI asking for a supervisor
with the token from its metadata frame, supervisors listening on `/api/v1/supervisor/stream`
(one through the SDK, one on a bare `websockets` client), claims racing over HTTP, and the
`ai_session.escalated` events read back from the outbox."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from yotel.calls.service import Originate
from yotel.client import AsyncYotel, PermissionDenied, Yotel
from yotel.client.escalations import (
    AsyncSupervisorStream,
    EscalationEvent,
    StreamWarning,
    SupervisorStream,
)
from yotel.counters import Counters
from yotel.db.models import OutboxEvent
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node
from yotel.webhooks.events import AiSessionEscalated, parse_event

SCOPES = ("voice_agents:write", "calls:write", "calls:read", "campaigns:write", "leads:write",
          "tenant:admin")
PUSH_BUDGET_S = 0.2  # issue P2.6: an escalation reaches the streams within 200 ms
# The whole verb on a loaded two-core machine (HTTP, auth, rate limit, the write): a sanity bound.
REQUEST_BUDGET_S = 1.0
T = TypeVar("T")


@dataclass
class Scene:
    node: RunningNode
    http: httpx.AsyncClient  # the tenant's admin key
    session: FakeSession
    call_id: str
    token: str
    tenant_id: str
    supervisor_key: str
    supervisors: list[str]  # two on duty
    off_duty: str
    plain_agent: str

    @property
    def stream_url(self) -> str:
        return self.node.base_url.replace("http://", "ws://") + "/api/v1/supervisor/stream"

    async def request_supervisor(self, **fields: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/ai-sessions/{self.call_id}/control",
            json={"event": "request_supervisor", **fields},
            headers={"Authorization": f"Bearer {self.token}"})

    async def claim(self, escalation_id: str, supervisor_id: str, *,
                    key: str | None = None) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/escalations/{escalation_id}/claim", json={"supervisor_id": supervisor_id},
            headers={"Authorization": f"Bearer {key or self.supervisor_key}"})

    def raw_stream(self, key: str | None = None, supervisor_id: str | None = None) -> Any:
        query = f"?supervisor_id={supervisor_id}" if supervisor_id else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return connect(self.stream_url + query, additional_headers=headers, open_timeout=5)

    def sdk(self, key: str | None = None) -> AsyncYotel:
        return AsyncYotel(api_key=key or self.supervisor_key, base_url=self.node.base_url,
                          max_retries=0)


async def _agent(http: httpx.AsyncClient, name: str, role: str, on_duty: bool = True) -> str:
    made = await http.post("/api/v1/agents", json={
        "name": name, "role": role, "contact": "sip:sup@127.0.0.1:5999", "on_duty": on_duty})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.fixture
async def scene(make_settings: Callable[..., Settings], counters: Counters,
                make_tenant_key: Any) -> AsyncIterator[Scene]:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=54000, rtp_port_max=54998,
                             drain_timeout_s=1.0)
    key = await make_tenant_key(*SCOPES)
    supervisor_key = await make_tenant_key("supervisor", tenant_id=key.tenant_id)
    phone = await Phone(RtpPortPool(55000, 55498)).start()
    try:
        async with running_node(settings, counters=counters) as node, \
                FakeVoiceAI(mode="silent") as ai, \
                httpx.AsyncClient(base_url=node.base_url, headers=key.headers,
                                  timeout=15) as http:
            agent = (await http.post("/api/v1/voice-agents", json={
                "name": "esc", "ws_url": ai.url})).json()
            supervisors = [await _agent(http, f"sup{i}", "supervisor") for i in (1, 2)]
            off_duty = await _agent(http, "sup3", "supervisor", on_duty=False)
            plain = await _agent(http, "agent", "agent")
            placed = await node.services.calls.originate(key.tenant_id, Originate(
                to=phone.uri, voice_agent_id=agent["id"]))
            session = await ai.next_session()
            await asyncio.wait_for(phone.answered.wait(), 10)
            yield Scene(node, http, session, placed.id, session.metadata["yotel_callback_token"],
                        key.tenant_id, supervisor_key.key, supervisors, off_duty, plain)
    finally:
        await phone.close()


async def _arrival(pending: Awaitable[T]) -> tuple[float, T]:
    """What `pending` gave, and when (wall clock) it came."""
    result = await pending
    return time.time(), result


async def _next_frame(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return frame


async def _next_event(stream: AsyncSupervisorStream, timeout: float = 5.0) -> EscalationEvent:
    async with asyncio.timeout(timeout):
        async for event in stream:
            assert isinstance(event, EscalationEvent), event
            return event
    raise AssertionError("the stream ended")


async def _escalated_events(scene: Scene) -> list[dict[str, Any]]:
    async with scene.node.services.db.read() as session:
        rows = (await session.scalars(select(OutboxEvent).where(
            OutboxEvent.call_id == scene.call_id, OutboxEvent.type == "ai_session.escalated")
            .order_by(OutboxEvent.sequence))).all()
    for row in rows:  # what a webhook receiver parses (yotel.webhooks.events)
        event = parse_event(row.payload)
        assert isinstance(event, AiSessionEscalated) and event.data.escalation_id
    return [row.payload["data"] for row in rows]


async def test_an_escalation_reaches_two_streams_at_once_and_the_first_claim_wins(
        scene: Scene) -> None:
    first, second = scene.supervisors
    async with scene.sdk() as client, client.supervisor.stream(supervisor_id=first) as sdk_stream, \
            scene.raw_stream(scene.supervisor_key, second) as raw, \
            scene.raw_stream(scene.supervisor_key, scene.off_duty) as off_duty:
        sent = time.time()
        created = asyncio.create_task(_arrival(_next_event(sdk_stream)))
        raw_created = asyncio.create_task(_arrival(_next_frame(raw)))
        reply = await scene.request_supervisor(reason="Caller is angry", urgency="high")
        answered = time.time() - sent
        assert reply.status_code == 200, reply.text
        escalation_id = reply.json()["result"]["escalation_id"]
        (sdk_at, event), (raw_at, frame) = await asyncio.gather(created, raw_created)
        # From the escalation's creation (its created_at, stamped before the write; one clock:
        # the server is in this process) to each stream: the write, the commit, the fan-out.
        born = event.escalation.created_at.timestamp()
        pushed = max(sdk_at, raw_at) - born
        print(f"verb answered in {answered * 1000:.1f} ms; both streams had the push "
              f"{pushed * 1000:.1f} ms after the escalation was created, "
              f"{(max(sdk_at, raw_at) - sent) * 1000:.1f} ms after the request was sent")
        assert 0 <= pushed < PUSH_BUDGET_S
        assert max(sdk_at, raw_at) - sent < REQUEST_BUDGET_S
        assert event.type == "escalation.created" and frame["type"] == "escalation.created"
        assert event.escalation.id == frame["escalation"]["id"] == escalation_id
        assert frame["escalation"] | {"created_at": None} == {
            "id": escalation_id, "call_id": scene.call_id, "reason": "Caller is angry",
            "urgency": "high", "status": "open", "supervisor_id": None, "created_at": None,
            "claimed_at": None}

        claims = await asyncio.gather(scene.claim(escalation_id, first),
                                      scene.claim(escalation_id, second))
        assert sorted(c.status_code for c in claims) == [200, 409], [c.text for c in claims]
        won = next(c for c in claims if c.status_code == 200).json()
        lost = next(c for c in claims if c.status_code == 409).json()
        winner = won["supervisor_id"]
        assert won["status"] == "claimed" and won["claimed_at"] and winner in (first, second)
        assert lost["error"]["type"] == "conflict"

        claimed = await _next_event(sdk_stream)
        raw_claimed = await _next_frame(raw)
        assert claimed.type == "escalation.claimed" == raw_claimed["type"]
        assert claimed.escalation.supervisor_id == raw_claimed["escalation"]["supervisor_id"]
        assert claimed.escalation.supervisor_id == winner
        with pytest.raises(TimeoutError):  # an off-duty supervisor's stream hears nothing
            await _next_frame(off_duty, timeout=0.3)

    assert await _escalated_events(scene) == [
        {"call_id": scene.call_id, "escalation_id": escalation_id, "supervisor_id": None,
         "reason": "Caller is angry", "urgency": "high"},
        {"call_id": scene.call_id, "escalation_id": escalation_id, "supervisor_id": winner,
         "reason": "Caller is angry", "urgency": "high"}]
    heard = [e for e in await scene.session.wait_for_text("event")
             if e["name"] == "escalation_claimed"]
    assert heard and heard[0]["data"] == {"escalation_id": escalation_id,
                                          "supervisor_id": winner}
    listed = await scene.http.get("/api/v1/escalations", params={"status": "claimed"},
                                  headers={"Authorization": f"Bearer {scene.supervisor_key}"})
    assert [e["id"] for e in listed.json()["data"]] == [escalation_id]
    async with scene.sdk() as client:
        assert (await client.escalations.list(status="open")).data == []
        again = await client.escalations.get(escalation_id)
        assert again.supervisor_id == winner and again.status == "claimed"


async def test_scope_tenant_and_supervisor_checks(scene: Scene, make_tenant_key: Any) -> None:
    no_scope = await make_tenant_key("calls:read", tenant_id=scene.tenant_id)
    with pytest.raises(InvalidStatus) as refused:
        async with scene.raw_stream(no_scope.key):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body or b"{}")["error"]["type"] == \
        "permission_denied"
    with pytest.raises(InvalidStatus) as anonymous:
        async with scene.raw_stream(None):
            pass
    assert anonymous.value.response.status_code == 401
    with pytest.raises(PermissionDenied):
        async with scene.sdk(no_scope.key) as client, client.supervisor.stream():
            pass
    listed = await scene.http.get("/api/v1/escalations",
                                  headers={"Authorization": f"Bearer {no_scope.key}"})
    assert listed.status_code == 403

    other = await make_tenant_key("supervisor", "tenant:admin")
    other_supervisor = await _agent(scene.http, "theirs", "supervisor")  # (this tenant's)
    with pytest.raises(InvalidStatus) as foreign:  # a supervisor of another tenant: 404
        async with scene.raw_stream(other.key, other_supervisor):
            pass
    assert foreign.value.response.status_code == 404

    async with scene.raw_stream(other.key) as theirs:
        reply = await scene.request_supervisor(reason="needs a senior rep")
        escalation_id = reply.json()["result"]["escalation_id"]
        with pytest.raises(TimeoutError):  # another tenant's stream hears nothing
            await _next_frame(theirs, timeout=0.3)
    assert (await scene.claim(escalation_id, scene.supervisors[0], key=other.key)
            ).status_code == 404
    theirs_listed = await scene.http.get("/api/v1/escalations",
                                         headers={"Authorization": f"Bearer {other.key}"})
    assert theirs_listed.json()["data"] == []

    assert (await scene.claim(escalation_id, scene.plain_agent)).status_code == 409
    assert (await scene.claim(escalation_id, scene.off_duty)).status_code == 409
    assert (await scene.claim(escalation_id, str(uuid.uuid4()))).status_code == 404
    assert (await scene.claim(escalation_id, "not-a-uuid")).status_code == 400

    later = (await scene.request_supervisor(reason="again")).json()["result"]["escalation_id"]
    async with scene.sdk() as client:  # paged like every list, oldest first
        first_page = await client.escalations.list(status="open", limit=1)
        assert [e.id for e in first_page.data] == [escalation_id] and first_page.next_cursor
        rest = await client.escalations.list(status="open", limit=1,
                                             cursor=first_page.next_cursor)
        assert [e.id for e in rest.data] == [later] and rest.next_cursor is None
        assert [e.id async for e in client.escalations.iter(limit=1)] == [escalation_id, later]


async def test_an_escalation_of_a_call_that_ended_is_closed_not_claimed(scene: Scene) -> None:
    opened: list[SupervisorStream] = []

    def listen() -> EscalationEvent | StreamWarning:  # the blocking client, in a thread
        with Yotel(api_key=scene.supervisor_key, base_url=scene.node.base_url) as client, \
                client.supervisor.stream() as stream:
            opened.append(stream)
            return next(iter(stream))

    reading = asyncio.create_task(asyncio.to_thread(listen))
    try:
        async with asyncio.timeout(5):
            while not opened:
                await asyncio.sleep(0.01)
        reply = await scene.request_supervisor(reason="angry", urgency="critical")
        escalation_id = reply.json()["result"]["escalation_id"]
        event = await asyncio.wait_for(reading, 5)
    finally:
        for stream in opened:
            stream.close()  # unblocks the thread if nothing came
    assert isinstance(event, EscalationEvent) and event.escalation.id == escalation_id
    assert event.escalation.urgency == "critical"
    hung_up = await scene.http.post(f"/api/v1/ai-sessions/{scene.call_id}/control",
                                    json={"event": "hangup"},
                                    headers={"Authorization": f"Bearer {scene.token}"})
    assert hung_up.status_code == 200, hung_up.text
    async with asyncio.timeout(10):
        while (await scene.http.get(f"/api/v1/calls/{scene.call_id}")).json()["state"] != \
                "ended":
            await asyncio.sleep(0.05)
    async with scene.sdk() as client:  # shown closed as soon as its call has ended
        assert (await client.escalations.list(status="open")).data == []
        assert [e.id for e in (await client.escalations.list(status="closed")).data] == [
            escalation_id]
    refused = await scene.claim(escalation_id, scene.supervisors[0])
    assert refused.status_code == 409 and "ended" in refused.json()["error"]["message"]
    async with scene.sdk() as client:
        assert (await client.escalations.get(escalation_id)).status == "closed"
    assert [e["supervisor_id"] for e in await _escalated_events(scene)] == [None]
