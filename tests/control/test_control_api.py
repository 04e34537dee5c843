"""The Control API on live calls through a whole node: a call placed to a phone, the AI driving
it with the token from its metadata frame. Each verb's observable effect, and every row of page
003's error table from a real request."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from yotel.calls.live import LeadContext
from yotel.calls.service import Originate
from yotel.counters import Counters
from yotel.rtp import g711
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.audio import has_tone, read_wav, rms, tone, tone_g711, wav_bytes
from yotel.testing.fake_ai import FakeSession, FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import RunningNode, running_node
from yotel.testing.wavserver import WavServer

SCOPES = ("voice_agents:write", "calls:write", "calls:read", "recordings:read",
          "campaigns:write", "leads:write", "tenant:admin")


@dataclass
class Live:
    node: RunningNode
    http: httpx.AsyncClient  # the tenant's key
    phone: Phone
    session: FakeSession
    call_id: str
    token: str
    tenant_id: str
    lead_id: str

    async def verb(self, event: str, *, key: str | None = None, token: str | None = None,
                   **fields: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.http.post(f"/api/v1/ai-sessions/{self.call_id}/control",
                                    json={"event": event, **fields}, headers=headers)

    async def ok(self, event: str, **fields: Any) -> dict[str, Any]:
        reply = await self.verb(event, **fields)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["ok"] is True and body["call_id"] == self.call_id and body["dispatched_at"]
        result: dict[str, Any] = body["result"]
        return result


@pytest.fixture
async def live(make_settings: Callable[..., Settings], counters: Counters,
               make_tenant_key: Any) -> AsyncIterator[Live]:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=43000, rtp_port_max=44998,
                             drain_timeout_s=1.0)
    key = await make_tenant_key(*SCOPES)
    phone = await Phone(RtpPortPool(45000, 45998)).start()
    try:
        async with running_node(settings, counters=counters) as node, \
                FakeVoiceAI(mode="silent") as ai, \
                httpx.AsyncClient(base_url=node.base_url, headers=key.headers,
                                  timeout=15) as http:
            agent = (await http.post("/api/v1/voice-agents", json={
                "name": "ctl", "ws_url": ai.url})).json()
            campaign = (await http.post("/api/v1/campaigns", json={"name": "c"})).json()
            added = await http.post(f"/api/v1/campaigns/{campaign['id']}/leads", json={
                "leads": [{"phone": "+15550001234", "name": "Lee",
                           "custom_fields": {"tier": "1"}}]})
            assert added.status_code in (200, 201), added.text
            lead = (await http.get(f"/api/v1/campaigns/{campaign['id']}/leads")).json()["data"][0]
            placed = await node.services.calls.originate(key.tenant_id, Originate(
                to=phone.uri, voice_agent_id=agent["id"], campaign_id=campaign["id"],
                lead=LeadContext(lead["id"], lead["phone"], lead["name"], lead["status"],
                                 lead["custom_fields"])))
            session = await ai.next_session()
            await asyncio.wait_for(phone.answered.wait(), 10)
            await asyncio.sleep(0.2)
            yield Live(node, http, phone, session, placed.id,
                       session.metadata["yotel_callback_token"], key.tenant_id, lead["id"])
    finally:
        await phone.close()


async def test_call_state_mute_hold_dtmf_and_logs(live: Live) -> None:
    state = await live.ok("get_call_state")
    assert state == {"state": "in_progress", "duration_s": state["duration_s"], "answered": True,
                     "current_participants": ["caller", "ai_agent"], "is_recording": True,
                     "is_muted": {"caller": False, "agent": False}, "is_held": False,
                     "conference_id": None, "disposition": None}
    assert await live.ok("mute", target="caller") == {"target": "caller", "muted": True}
    assert (await live.ok("get_call_state"))["is_muted"] == {"caller": True, "agent": False}
    events = await live.session.wait_for_text("event")
    assert events[0]["name"] == "mute"
    await live.ok("unmute")
    await live.ok("hold")
    assert live.phone.dialog is not None
    assert (await live.ok("get_call_state"))["is_held"] is True
    await live.ok("unhold")
    assert (await live.ok("get_call_state"))["is_held"] is False
    held = [e["name"] for e in await live.session.wait_for_text("event", 4)]
    assert held == ["mute", "unmute", "hold", "unhold"]

    await live.ok("send_dtmf", digits="12#")
    async with asyncio.timeout(5):
        while live.phone.digits != ["1", "2", "#"]:
            await asyncio.sleep(0.02)

    await live.ok("log", metadata={"step": "intent_classified", "intent": "renewal"})
    await live.ok("set_disposition", disposition="interested", notes="call back Tue")
    session = (await live.http.get(f"/api/v1/ai-sessions/{live.call_id}")).json()
    assert session["metadata"]["logs"][0]["metadata"] == {"step": "intent_classified",
                                                          "intent": "renewal"}
    record = (await live.http.get(f"/api/v1/calls/{live.call_id}")).json()
    assert (record["disposition"], record["disposition_source"]) == ("interested", "ai")


async def test_play_audio_and_a_paused_recording(live: Live) -> None:
    async with WavServer(wav_bytes(tone(700, 1.0))) as server:
        played = await live.ok("play_audio", audio_url=server.url)
        assert played["duration_ms"] == 1000
        await asyncio.sleep(0.6)
        heard = g711.decode(b"".join(p for _, p in live.phone.received[-20:]), "pcmu")
        assert has_tone(heard, 700)
    live.phone.send_audio(tone_g711(440, 1.0))
    owner = live.node.services.calls.directory.get(live.call_id)
    assert owner is not None and owner.media.recorder is not None
    recorder = owner.media.recorder
    await asyncio.sleep(1.0)
    await live.ok("recording_pause", reason="pci")
    await asyncio.sleep(1.0)
    await live.ok("recording_resume")
    # Offsets into the file, as the recorder kept them: on a loaded machine the clock may
    # skip ticks, and then the file is shorter than the wall-clock time since answer.
    [span] = recorder.pauses
    assert span.reason == "pci"
    paused_at, resumed_at = span.start_s, span.end_s
    await asyncio.sleep(1.0)
    assert (await live.ok("get_call_state"))["is_recording"] is True
    await live.ok("hangup", metadata={"reason": "task_complete"})
    await asyncio.wait_for(live.phone.dialog.terminated.wait(), 5)  # type: ignore[union-attr]

    async def recorded() -> dict[str, Any] | None:
        body = (await live.http.get(f"/api/v1/calls/{live.call_id}")).json()
        return body if body["recording"] else None

    record = await _until(recorded)
    assert record["outcome"] == "hangup"
    wav = read_wav((await live.http.get(f"/api/v1/calls/{live.call_id}/recording")).content)
    before, paused, after = (wav.span(paused_at - 0.7, paused_at - 0.1),
                             wav.span(paused_at + 0.2, resumed_at - 0.2),
                             wav.span(wav.duration_s - 0.8, wav.duration_s - 0.2))
    assert has_tone(before.channel(0), 440) and has_tone(after.channel(0), 440)
    assert rms(paused.channel(0)) < 50  # the paused span is silence in the file
    logs = (await live.http.get(f"/api/v1/ai-sessions/{live.call_id}")).json()["metadata"]["logs"]
    assert [(e.get("event"), e.get("reason")) for e in logs] == [
        ("recording_pause", "pci"), ("recording_resume", None)]


async def test_lead_verbs_and_a_scheduled_callback(live: Live) -> None:
    await live.ok("set_lead_field", field="preferred_callback_window", value="weekday_evenings")
    await live.ok("set_lead_status", status="qualified")
    lead = (await live.http.get(f"/api/v1/leads/{live.lead_id}")).json()
    assert lead["custom_fields"] == {"tier": "1", "preferred_callback_window": "weekday_evenings"}
    assert (lead["status"], lead["status_set_by"]) == ("qualified", "ai")
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    scheduled = await live.ok("schedule_callback", scheduled_at=when.isoformat(),
                              reason="Customer requested Tuesday 2pm")
    callbacks = (await live.http.get("/api/v1/callbacks")).json()["data"]
    assert [c["id"] for c in callbacks] == [scheduled["callback_id"]]
    assert callbacks[0]["phone"] == "+15550001234"
    past = await live.verb("schedule_callback", scheduled_at="2001-01-01T00:00:00Z")
    assert past.status_code == 400


async def test_every_row_of_the_error_table(live: Live, make_tenant_key: Any) -> None:
    assert (await live.verb("get_call_state", token="yt_cb_" + "0" * 26)).status_code == 401
    assert (await live.verb("get_call_state", token="garbage")).status_code == 401
    plain = await make_tenant_key("calls:write", tenant_id=live.tenant_id)
    assert (await live.verb("get_call_state", token=plain.key)).status_code == 403
    foreign = await make_tenant_key("ai_sessions:control_admin")
    assert (await live.verb("get_call_state", token=foreign.key)).status_code == 403
    admin = await make_tenant_key("ai_sessions:control_admin", tenant_id=live.tenant_id)
    assert (await live.verb("get_call_state", token=admin.key)).status_code == 200
    missing = await live.http.post(f"/api/v1/ai-sessions/{uuid.uuid4()}/control",
                                   json={"event": "get_call_state"},
                                   headers={"Authorization": f"Bearer {admin.key}"})
    assert missing.status_code == 404
    tts = await live.verb("play_audio", tts_text="hello")
    assert tts.status_code == 422 and tts.json()["error"]["type"] == "unprocessable"
    both = await live.verb("play_audio", tts_text="hello", audio_url="https://example.com/a")
    assert both.status_code == 400 and both.json()["error"]["type"] == "validation_error"
    assert (await live.verb("teleport")).status_code == 400
    assert (await live.verb("send_dtmf", digits="12x")).status_code == 400
    assert (await live.verb("transfer", destination_type="e164")).status_code == 400

    first = await live.verb("hangup", key="k-1")
    assert first.status_code == 200 and "Idempotent-Replayed" not in first.headers
    replay = await live.verb("hangup", key="k-1")
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    reused = await live.verb("hangup", key="k-1", metadata={"other": "body"})
    assert reused.status_code == 400 and "idempotency_key_reused" in reused.text
    await asyncio.wait_for(live.phone.dialog.terminated.wait(), 5)  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    again = await live.verb("hangup", key="k-2")
    assert again.status_code == 409 and again.json()["error"]["type"] == "conflict"


async def test_the_eleventh_request_in_a_second_is_rate_limited(live: Live) -> None:
    replies = await asyncio.gather(*(live.verb("get_call_state") for _ in range(11)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [200] * 10 + [429]
    limited = next(r for r in replies if r.status_code == 429)
    body = limited.json()["error"]
    assert body["type"] == "rate_limited" and body["retry_after_s"] > 0
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Limit"] == "10"
    assert limited.headers["RateLimit-Remaining"] == "0"
    ok = next(r for r in replies if r.status_code == 200)
    assert ok.headers["RateLimit-Limit"] == "10"


async def test_another_calls_token_is_403(live: Live) -> None:
    other = await live.http.post(f"/api/v1/ai-sessions/{uuid.uuid4()}/control",
                                 json={"event": "get_call_state"},
                                 headers={"Authorization": f"Bearer {live.token}"})
    assert other.status_code == 403


async def _until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)


async def test_the_hot_path_answers_as_the_fastapi_route_does(live: Live) -> None:
    """api/control_fast.py takes a JSON body that is a valid verb; sent as another JSON media
    type (`application/*+json`, which FastAPI reads as JSON too) the same request goes through
    the FastAPI route. Both must answer alike."""
    other = str(uuid.uuid4())
    cases: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        (live.call_id, {"event": "get_call_state"}, {}),
        (live.call_id, {"event": "log", "metadata": {"n": 1}}, {}),
        (live.call_id, {"event": "mute", "target": "agent"}, {}),
        (other, {"event": "get_call_state"}, {}),  # another call's token: 403
        (live.call_id, {"event": "get_call_state"}, {"Authorization": "Bearer yt_cb_nope"}),
        (live.call_id, {"event": "get_call_state"}, {"Authorization": "Basic x"}),
        (live.call_id, {"event": "play_audio", "tts_text": "hi"}, {}),  # 422 from the verb
    ]
    for call_id, body, headers in cases:
        answers = []
        for content_type in ("application/json", "application/vnd.test+json"):
            sent = {"Authorization": f"Bearer {live.token}", "Content-Type": content_type,
                    **headers}
            reply = await live.http.post(f"/api/v1/ai-sessions/{call_id}/control",
                                         content=json.dumps(body), headers=sent)
            answers.append(_comparable(reply))
            await asyncio.sleep(0.25)  # stay under the rate limit
        assert answers[0] == answers[1], (body, headers, answers)
    assert (await live.ok("get_call_state"))["is_muted"] == {"caller": False, "agent": True}


def _comparable(reply: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    body = reply.json()
    if "dispatched_at" in body:
        body["dispatched_at"] = "…"
    if "error" in body:
        body["error"]["request_id"] = "…"
    headers = {k: v for k, v in reply.headers.items()
               if k.lower().startswith("ratelimit-limit") or k.lower() in (
                   "content-type", "retry-after", "www-authenticate")}
    return reply.status_code, body, headers
