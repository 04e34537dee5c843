"""RTP actually flowing between Yotel and sipp (Debian sip-tester), with the audio fork connected
to the fake AI. Real processes, real sockets, bounded."""

from __future__ import annotations

import asyncio

import pytest

from yotel.fork.client import ForkConfig
from yotel.media.call import Call
from yotel.media.engine import MediaEngine
from yotel.testing.audio import tone_g711 as tone
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.sipp import start_sipp

from .capture import UdpCapture

pytestmark = pytest.mark.sipp


def is_silence(payload: bytes) -> bool:
    return payload.count(payload[:1]) == len(payload) and payload[:1] in (b"\xff", b"\xd5")


async def test_sipp_uas_echoes_ai_audio(engine: MediaEngine) -> None:
    """Yotel calls sipp (built-in uas, -rtp_echo); the AI plays a tone, sipp echoes it, and the
    echo comes back to the AI as caller audio."""
    sipp = await start_sipp(scenario="uas", rtp_echo=True, timeout_s=20)
    try:
        async with FakeVoiceAI(mode="play", play_audio=tone(1000, 1.5, "pcmu")) as ai:
            call = await engine.originate(
                f"sip:echo@127.0.0.1:{sipp.port}",
                fork=(ForkConfig(url=ai.url, allow_insecure=True), {"call_id": "sipp-echo"}))
            session = await ai.next_session()
            await asyncio.wait_for(call.answered.wait(), 10)
            await session.wait_for_binary(50, timeout=10)  # 1 s of caller audio
            await asyncio.sleep(1.0)
            stats = call.leg.session.stats
            await call.hangup()
            assert (await call.wait_ended(5)).outcome == "hangup"
            result = await sipp.wait(15)
        assert result.ok, result.stdout + result.stderr
        assert stats.packets_sent >= 90  # ~2 s at 50/s
        assert stats.packets_received >= 0.8 * stats.packets_sent
        echoed = [frame for _, frame in session.binary if not is_silence(frame)]
        assert len(echoed) >= 50  # the AI's own tone, heard back through sipp
    finally:
        await sipp.stop()


async def test_sipp_uac_pcap_dtmf_clear_and_marks(engine: MediaEngine) -> None:
    """sipp calls Yotel, plays g711a.pcap (30 ms PCMA) and RFC 2833 "1"; the AI gets a
    continuous 20 ms timeline and the digit; AI audio reaches sipp; clear and marks work."""
    calls: list[Call] = []
    async with FakeVoiceAI(mode="silent") as ai:
        async def handler(call: Call) -> None:
            calls.append(call)
            await call.ringing()
            await call.attach_fork(ForkConfig(url=ai.url, allow_insecure=True, encoding="pcmu"),
                                   {"call_id": "sipp-uac", "direction": "inbound"})
            await call.answer()

        engine.on_inbound(handler)
        sipp = await start_sipp(scenario="media_uac_pcap", remote=engine.sip_address,
                                timeout_s=30)
        try:
            session = await ai.next_session(10)
            await asyncio.wait_for(_answered(calls), 10)
            call = calls[0]
            assert call.leg.encoding == "pcma"  # sipp offered PCMA only: we transcode for the AI
            capture = UdpCapture(src_port=call.leg.session.local_port).start()
            try:
                await _clear_and_marks(session, capture)
                end = await call.wait_ended(20)
            finally:
                capture.stop()
            result = await sipp.wait(15)
        finally:
            await sipp.stop()
    assert result.ok, result.stdout + result.stderr
    assert end.outcome == "caller_hangup"
    _check_timeline(session.binary, call)
    dtmf = session.of_type("dtmf")
    assert [d["digit"] for d in dtmf] == ["1"], (call.leg.session.stats, session.texts[-5:])


async def _answered(calls: list[Call]) -> None:
    while not calls:
        await asyncio.sleep(0.01)
    await calls[0].answered.wait()


async def _clear_and_marks(session: object, capture: UdpCapture) -> None:
    from yotel.testing.fake_ai import FakeSession

    assert isinstance(session, FakeSession)
    loop = asyncio.get_running_loop()
    await session.send_audio(tone(800, 0.6, "pcmu"))
    await session.send_text({"type": "mark", "name": "m1"})
    await session.send_audio(tone(800, 3.0, "pcmu"))
    await session.send_text({"type": "mark", "name": "m2"})
    await session.wait_for_text("mark", 1, timeout=5)
    await asyncio.sleep(0.5)
    cleared_at = loop.time()
    await session.send_text({"type": "clear"})
    cleared = (await session.wait_for_text("cleared", timeout=5))[0]
    await asyncio.sleep(0.3)
    marks = [(m["name"], m["event"]) for m in session.of_type("mark")]
    assert marks == [("m1", "playout"), ("m2", "cleared")]
    assert cleared["discarded_ms"] > 1000
    ai_packets = [(t, p) for t, p in capture.packets if not is_silence(p[12:])]
    assert len(ai_packets) >= 45  # > 1 s of the AI's tone reached sipp's RTP port
    # PRODUCT.md §6.5: playout stops within one 20 ms tick (+ slack for a loaded machine).
    late = [t - cleared_at for t, _ in ai_packets if t > cleared_at + 0.02 + 0.04]
    assert late == []


def _check_timeline(binary: list[tuple[float, bytes]], call: Call) -> None:
    assert {len(frame) for _, frame in binary} == {160}
    duration = binary[-1][0] - binary[0][0]
    rate = (len(binary) - 1) / duration
    assert 45 <= rate <= 55, rate
    fork = call.fork
    assert fork is not None and fork.timeline is not None
    # sipp's 30 ms packets were re-cut into 20 ms frames: (almost) nothing was silence-filled
    # while the pcap played; the fill after it (the pcap ended, DTMF) is the timeline's job.
    speech = [frame for _, frame in binary[:300] if not is_silence(frame)]
    assert len(speech) >= 0.9 * min(len(binary), 300)


@pytest.mark.parametrize(("password", "outcome"), [("secret", "hangup"), ("wrong", "failed")])
async def test_originate_through_a_digest_trunk(engine: MediaEngine, password: str,
                                                outcome: str) -> None:
    """A number dialled through a trunk that challenges with 401 (sipp verifies the digest)."""
    from yotel.media.engine import Trunk

    sipp = await start_sipp(scenario="uas_auth", timeout_s=15)
    try:
        trunk = Trunk("127.0.0.1", sipp.port, username="trunkuser", password=password)
        call = await engine.originate("15551234567", caller_id="15550000000", trunk=trunk)
        assert call.to_uri == f"sip:15551234567@127.0.0.1:{sipp.port}"
        if outcome == "hangup":
            await asyncio.wait_for(call.answered.wait(), 10)
            await call.hangup()
        end = await call.wait_ended(10)
        assert end.outcome == outcome
        if outcome == "failed":
            assert end.sip_status == 403
        result = await sipp.wait(15)
        assert result.ok, result.stdout[-2000:] + result.stderr[-2000:]
    finally:
        await sipp.stop()


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets += 1


@pytest.mark.parametrize("codec,applied", [(("0", "PCMU"), True), (("18", "G729"), False)])
async def test_an_offerless_reinvite_is_answered_in_the_ack(
        engine: MediaEngine, codec: tuple[str, str], applied: bool) -> None:
    """sipp re-INVITEs without SDP (RFC 3261 §14.2): our 200 offers and sipp's ACK answers
    with a new RTP port. Our audio goes there from then on; an answer we cannot accept (a
    codec we did not offer) leaves the session as it was, and the call goes on."""
    loop = asyncio.get_running_loop()
    transport, sink = await loop.create_datagram_endpoint(
        _Sink, local_addr=("127.0.0.1", 0))
    ack_port = transport.get_extra_info("sockname")[1]
    calls: list[Call] = []

    async def handler(call: Call) -> None:
        calls.append(call)
        await call.answer()

    engine.on_inbound(handler)
    sipp = await start_sipp(scenario="uac_offerless_reinvite", remote=engine.sip_address,
                            keys={"ack_port": str(ack_port), "ack_pt": codec[0],
                                  "ack_codec": codec[1]}, timeout_s=20)
    try:
        result = await sipp.wait(20)
    finally:
        await sipp.stop()
        transport.close()
    assert result.ok, result.stdout[-2000:] + result.stderr[-2000:]  # sipp's BYE got its 200
    if applied:
        assert sink.packets >= 20  # a second of our 20 ms frames reached the answer's port
    else:
        assert sink.packets == 0
        session = calls[0].leg.session
        assert session.remote == ("127.0.0.1", sipp.media_port)  # where it was
        assert session.stats.packets_sent >= 50  # and our audio kept going there
