"""The engine against a scriptable phone over real sockets on 127.0.0.1: outcomes, the AI
fork both ways, hang-up cleanup."""

from __future__ import annotations

import asyncio
import socket

from yotel.fork.client import ForkConfig
from yotel.media.call import Call, CallEvent
from yotel.media.engine import MediaEngine
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone, tone


def fork_for(ai: FakeVoiceAI, call_id: str = "c1") -> tuple[ForkConfig, dict[str, object]]:
    return (ForkConfig(url=ai.url, allow_insecure=True),
            {"call_id": call_id, "direction": "outbound"})


async def wait_until(predicate: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def test_outbound_call_streams_both_ways_and_cleans_up(
        engine: MediaEngine, phone: Phone) -> None:
    async with FakeVoiceAI(mode="play", play_audio=tone(1000, 2.0)) as ai:
        events: list[CallEvent] = []
        call = await engine.originate(phone.uri, fork=fork_for(ai))
        call.subscribe(events.append)
        session = await ai.next_session()
        await asyncio.wait_for(call.answered.wait(), 5)
        phone.send_audio(tone(440, 1.0))
        await session.wait_for_binary(40)
        await wait_until(lambda: len(phone.received) >= 40)
        assert {len(frame) for _, frame in session.binary} == {160}
        assert session.metadata["call_id"] == "c1"
        port = call.leg.session.local_port
        await call.hangup()
        end = await call.wait_ended(5)
        assert end.outcome == "hangup"
        assert [e.kind for e in events][-1] == "ended"
        stops = await session.wait_for_text("stop")
        assert stops[0]["reason"] == "hangup"
        await asyncio.wait_for(session.closed.wait(), 5)
        assert call.scope.tasks == 0 and call.scope.resources == 0
        assert call.id not in engine.calls
        assert engine.clock.subscribers == 0
        assert port_is_free(port) and port_is_free(port + 1)
        await asyncio.wait_for(phone.dialog.terminated.wait(), 5)  # type: ignore[union-attr]


async def test_busy_and_no_answer(engine: MediaEngine, phone: Phone) -> None:
    phone.answer_mode = "busy"
    call = await engine.originate(phone.uri)
    assert (await call.wait_ended(10)).outcome == "busy"
    phone.answer_mode = "ring"
    call = await engine.originate(phone.uri, answer_timeout_s=0.5)
    end = await call.wait_ended(10)
    assert (end.outcome, end.sip_status) == ("no_answer", 487)


async def test_ai_close_1000_hangs_up(engine: MediaEngine, phone: Phone) -> None:
    async with FakeVoiceAI(mode="echo", close_after_frames=10, close_code=1000) as ai:
        call = await engine.originate(phone.uri, fork=fork_for(ai))
        await asyncio.wait_for(call.answered.wait(), 5)
        phone.send_audio(tone(440, 1.0))
        end = await call.wait_ended(10)
        assert end.outcome == "hangup"
        await asyncio.wait_for(phone.dialog.terminated.wait(), 5)  # type: ignore[union-attr]


async def test_caller_hangup_and_inbound_flow(engine: MediaEngine, phone: Phone,
                                              echo_ai: FakeVoiceAI) -> None:
    calls: list[Call] = []

    async def handler(call: Call) -> None:
        calls.append(call)
        await call.ringing()
        await call.attach_fork(*fork_for(echo_ai, "in1"))
        await call.answer()

    engine.on_inbound(handler)
    host, port = engine.sip_address
    await phone.call(f"sip:100@{host}:{port}")
    phone.send_audio(tone(440, 1.0))
    session = await echo_ai.next_session()
    await session.wait_for_binary(25)
    await wait_until(lambda: len(phone.received) >= 20)  # the echo came back over RTP
    await phone.dialog.bye()  # type: ignore[union-attr]
    end = await calls[0].wait_ended(5)
    assert end.outcome == "caller_hangup"
    assert (await session.wait_for_text("stop"))[0]["reason"] == "caller_hangup"


async def test_close_with_drain_waits_then_hangs_up_with_1001(phone: Phone,
                                                               echo_ai: FakeVoiceAI) -> None:
    from yotel.media.engine import MediaConfig

    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=31000, rtp_port_max=34999,
                                     drain_timeout_s=0.3, allow_insecure=True))
    await engine.start()
    call = await engine.originate(phone.uri, fork=fork_for(echo_ai, "drain"))
    session = await echo_ai.next_session()
    await asyncio.wait_for(call.answered.wait(), 5)
    await engine.close(drain=True)
    assert (await call.wait_ended(1)).outcome == "hangup"
    await asyncio.wait_for(session.closed.wait(), 5)
    assert session.ws.close_code == 1001  # PRODUCT.md §6.7: the node drains
    assert not engine.calls and engine.ports.in_use == 0


async def test_failing_inbound_handler_gets_500_and_frees_the_call(engine: MediaEngine,
                                                                   phone: Phone) -> None:
    from yotel.sip.dialog import InviteFailed

    async def handler(call: Call) -> None:
        raise RuntimeError("flow bug")

    engine.on_inbound(handler)
    host, port = engine.sip_address
    try:
        await phone.call(f"sip:300@{host}:{port}")
    except InviteFailed as exc:
        assert exc.status == 500
    else:
        raise AssertionError("the INVITE should have failed")
    assert not engine.calls and engine.ports.in_use == 0


async def test_hangup_while_ringing_cancels(engine: MediaEngine, phone: Phone) -> None:
    phone.answer_mode = "ring"
    events: list[str] = []
    call = await engine.originate(phone.uri)
    call.subscribe(lambda event: events.append(event.kind))
    async with asyncio.timeout(5):
        while call.state != "ringing":
            await asyncio.sleep(0.01)
    await call.hangup()
    assert (await call.wait_ended(5)).outcome == "hangup"
    assert events == ["ringing", "ended"]
    async with asyncio.timeout(5):
        while engine.background_tasks:  # the CANCEL transaction completes (487 from the phone)
            await asyncio.sleep(0.02)
    assert engine.ports.in_use == 0


async def test_node_policy_caps_the_fork(tmp_path: object, phone: Phone,
                                         echo_ai: FakeVoiceAI) -> None:
    """A ws:// loopback AI is refused when the node does not allow insecure URLs, and an agent
    subprotocol the node does not offer is refused before dialling."""
    from yotel.media.call import SubprotocolNotOffered
    from yotel.media.engine import MediaConfig

    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=31000, rtp_port_max=34999,
                                     audio_fork_subprotocols=("audio.drachtio.org",)))
    await engine.start()
    try:
        call = await engine.originate(phone.uri, fork=fork_for(echo_ai, "policy"))
        end = await call.wait_ended(10)
        assert end.outcome == "ai_disconnected" and "fork connect failed" in end.reason
        jambonz = ForkConfig(url=echo_ai.url, subprotocol="audio.jambonz.org",
                             allow_insecure=True)
        try:
            await engine.originate(phone.uri, fork=(jambonz, {}))
        except SubprotocolNotOffered:
            pass
        else:
            raise AssertionError("the jambonz subprotocol is not offered by this node")
        assert not engine.calls
    finally:
        await engine.close()
