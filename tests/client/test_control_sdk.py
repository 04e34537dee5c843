"""The SDK's Control API verbs against a whole node: page 003's examples as written (sync and
async), typed results, an automatic Idempotency-Key, and the documented error classes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from yotel import AsyncYotel, Yotel
from yotel.client.control import CallState
from yotel.client.errors import ConflictError, PermissionDenied, RateLimitedError
from yotel.counters import Counters
from yotel.rtp.ports import RtpPortPool
from yotel.settings import Settings
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone
from yotel.testing.server import running_node

SCOPES = ("voice_agents:write", "calls:write", "calls:read")


async def test_page_003_examples_run_as_written(make_settings: Callable[..., Settings],
                                                counters: Counters,
                                                make_tenant_key: Any) -> None:
    settings = make_settings(allow_insecure_urls=True, rtp_port_min=52000, rtp_port_max=52998,
                             drain_timeout_s=1.0)
    key = await make_tenant_key(*SCOPES)
    phone = await Phone(RtpPortPool(53000, 53498)).start()
    try:
        async with running_node(settings, counters=counters) as node, \
                FakeVoiceAI(mode="silent") as ai:
            client = AsyncYotel(api_key=key.key, base_url=node.base_url, max_retries=0)
            agent = await client.voice_agents.create(name="sdk", ws_url=ai.url)
            call = await client.calls.create(to=phone.uri, voice_agent_id=agent.id,
                                             lead={"name": "Ann",
                                                   "custom_fields": {"plan": "gold"}})
            session = await ai.next_session()
            await asyncio.wait_for(phone.answered.wait(), 10)
            cb_token = session.metadata["yotel_callback_token"]
            call_id = call.id
            sessions = client.ai_sessions

            state = await sessions.get_call_state(call_id, callback_token=cb_token)
            assert isinstance(state, CallState) and state.answered and not state.is_held
            assert state.call_id == call_id and state.dispatched_at.tzinfo is not None
            await sessions.mute(call_id, target="caller", callback_token=cb_token)
            await sessions.unmute(call_id, target="caller", callback_token=cb_token)
            await sessions.log(call_id, metadata={"step": "intent_classified"},
                               callback_token=cb_token)
            await sessions.set_disposition(call_id, disposition="interested",
                                           notes="callback Tue 2pm", callback_token=cb_token)
            await sessions.send_dtmf(call_id, digits="1234#", callback_token=cb_token)
            await sessions.recording_pause(call_id, reason="pci", callback_token=cb_token)
            await sessions.recording_resume(call_id, callback_token=cb_token)
            when = datetime.now(UTC) + timedelta(days=1)
            with pytest.raises(ConflictError):  # an ad-hoc call has no lead...
                await sessions.set_lead_status(call_id, status="qualified",
                                               callback_token=cb_token)
            with pytest.raises(ConflictError):  # ...and a SIP URI is no number to call back
                await sessions.schedule_callback(call_id, scheduled_at=when.isoformat(),
                                                 reason="callback requested",
                                                 callback_token=cb_token)

            await asyncio.sleep(1.1)  # ten verbs went out: a fresh rate window (10/s per call)
            sync = Yotel(api_key=key.key, base_url=node.base_url, max_retries=0)
            with pytest.raises(PermissionDenied):  # a plain tenant key may not drive calls
                await asyncio.to_thread(sync.ai_sessions.get_call_state, call_id)
            held = await asyncio.to_thread(sync.ai_sessions.hold, call_id,
                                           callback_token=cb_token)
            assert held.call_id == call_id
            assert (await sessions.get_call_state(call_id, callback_token=cb_token)).is_held

            await asyncio.sleep(1.1)  # a fresh rate window
            burst = await asyncio.gather(*(sessions.get_call_state(call_id,
                                                                   callback_token=cb_token)
                                           for _ in range(12)), return_exceptions=True)
            limited = [r for r in burst if isinstance(r, RateLimitedError)]
            assert len(limited) == 2 and all(isinstance(r, CallState) for r in burst
                                             if r not in limited)
            assert limited[0].retry_after_s is not None and limited[0].retry_after_s > 0
            await asyncio.sleep(1.1)

            first = await sessions.hangup(call_id, metadata={"reason": "task_complete"},
                                          callback_token=cb_token, idempotency_key="bye-1")
            again = await sessions.hangup(call_id, metadata={"reason": "task_complete"},
                                          callback_token=cb_token, idempotency_key="bye-1")
            assert again.dispatched_at == first.dispatched_at  # the cached 200, replayed
            await asyncio.sleep(0.3)
            with pytest.raises(ConflictError):  # a fresh (automatic) key: the call has ended
                await sessions.hangup(call_id, callback_token=cb_token)
            sync.close()
            await client.close()
    finally:
        await phone.close()
