"""A real call through a whole node (API, SIP to a phone, the fake voice AI) reports its
events to the tenant's endpoint: signed (the `standardwebhooks` package verifies each), in
causal order, the recording's `url` working, and a receiver that answers 500 to its first three
attempts of `call.answered` gets it on the fourth, still in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import standardwebhooks

from yotel.counters import Counters
from yotel.node import webhook_component
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.audio import read_wav, tone_g711
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node
from yotel.testing.webhook_sink import Received, WebhookSink

from .conftest import CALL_EVENTS

SCOPES = ("voice_agents:write", "calls:write", "recordings:read", "webhooks:write")


@pytest.fixture
async def phone() -> AsyncIterator[Phone]:
    phone = await Phone(RtpPortPool(43000, 43998)).start()
    yield phone
    await phone.close()


@pytest.fixture
async def node(make_settings: Callable[..., Settings],
               counters: Counters) -> AsyncIterator[RunningNode]:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=44000, rtp_port_max=44998,
                             drain_timeout_s=2.0, webhook_retry_schedule_s=(0.0,) + (0.2,) * 7)
    async with running_node(settings, counters=counters) as running:
        dispatcher = webhook_component(settings, running.services)
        await dispatcher.start()
        try:
            yield running
        finally:
            await dispatcher.stop()


def _flaky_answered(got: Received) -> int:
    return 500 if json.loads(got.body)["type"] == "call.answered" and got.attempt <= 3 else 200


async def test_a_calls_events_arrive_signed_in_order_with_a_working_recording_url(
        node: RunningNode, phone: Phone, make_tenant_key: Any) -> None:
    key = await make_tenant_key(*SCOPES)
    async with WebhookSink(_flaky_answered) as sink, \
            FakeVoiceAI(mode="play", play_audio=tone_g711(1200.0, 4.0)) as ai, \
            httpx.AsyncClient(base_url=node.base_url, headers=key.headers, timeout=10) as http:
        endpoint = (await http.post("/api/v1/webhook-endpoints", json={"url": sink.url})).json()
        agent = (await http.post("/api/v1/voice-agents", json={
            "name": "support", "ws_url": ai.url})).json()
        created = await http.post("/api/v1/calls", json={
            "to": phone.uri, "voice_agent_id": agent["id"], "caller_id": "+15550001111"})
        assert created.status_code == 201, created.text
        call_id = created.json()["id"]
        await ai.next_session()
        await asyncio.wait_for(phone.answered.wait(), 10)
        phone.send_audio(tone_g711(440.0, 1.0))
        await asyncio.sleep(1.5)
        assert phone.dialog is not None
        await phone.dialog.bye()
        got = await sink.wait_for(lambda got: len(got) >= len(CALL_EVENTS), timeout=20)

        verifier = standardwebhooks.Webhook(endpoint["secret"])
        events = [verifier.verify(g.body, g.headers) for g in got]
        assert [e["type"] for e in events] == list(CALL_EVENTS)
        assert {e["data"]["call_id"] for e in events} == {call_id}
        assert [g.webhook_id for g in got] == [e["id"] for e in events]
        answered = [g.attempt for g in sink.received if g.webhook_id == events[1]["id"]]
        assert answered == [1, 2, 3, 4]

        ready = events[-1]["data"]
        assert ready["stereo"] is True and ready["channels"] == {"left": "caller", "right": "ai"}
        assert ready["duration_s"] > 1.0
        # The URL is under YOTEL_PUBLIC_URL; this node's API port was chosen at start (port 0).
        path = httpx.URL(ready["url"]).path
        assert path == f"/api/v1/calls/{call_id}/recording"
        recording = await http.get(path)
        assert recording.status_code == 200 and recording.headers["content-type"] == "audio/wav"
        assert read_wav(recording.content).channels == 2

        deliveries = (await http.get(
            f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries")).json()["data"]
        by_type = {d["event_type"]: d for d in deliveries}
        flaky = by_type["call.answered"]
        assert flaky["attempts"] == 4 and flaky["status"] == "delivered"
        assert flaky["last_status_code"] == 200 and flaky["latency_ms"] is not None
        assert by_type["call.started"]["attempts"] == 1
