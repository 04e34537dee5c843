"""Yotel against baresip (Debian baresip-core), a softphone we did not write: it calls the
engine, holds (`a=sendonly`), resumes and hangs up, driven over its ctrl_tcp socket. What went
on the wire is captured on the loopback interface: Yotel's SDP answers (RFC 3264 §6.1 recvonly,
§8 one o= session id with the version +1 per new SDP) and Yotel's RTP (none while held).
baresip's RTCP reports about our stream give the leg a round-trip time (RFC 3550 §6.4.1)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from yotel.media.call import Call
from yotel.media.engine import MediaEngine
from yotel.sip.message import SipResponse, parse_message
from yotel.sip.sdp import SessionDescription
from yotel.testing.baresip import Baresip, BaresipOptions, baresip_running

from .capture import UdpCapture

pytestmark = pytest.mark.baresip


def sdp_answers(capture: UdpCapture) -> list[SessionDescription]:
    """The SDP of each distinct 200 OK to an INVITE Yotel sent (retransmissions once)."""
    seen: dict[str, SessionDescription] = {}
    for _, data in capture.packets:
        message = parse_message(data)
        if (isinstance(message, SipResponse) and message.status == 200 and message.body
                and "INVITE" in (message.headers.get("CSeq") or "")):
            seen.setdefault(message.headers.get("CSeq") or "",
                            SessionDescription.parse(message.body))
    return list(seen.values())


def rtp_between(capture: UdpCapture, start: float, end: float) -> int:
    return sum(1 for t, data in capture.packets if start <= t < end and data[1] & 0x7F == 0)


async def flowing(capture: UdpCapture, packets: int = 10, timeout: float = 5.0) -> None:
    """Until `packets` more RTP packets of ours went out (on a loaded machine the media clock
    runs late, so a count within a generous time, not a rate, tells sending from silence)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(timeout):
        while rtp_between(capture, start, loop.time() + 1) < packets:
            await asyncio.sleep(0.02)


async def window(seconds: float) -> tuple[float, float]:
    """A stretch of time starting 100 ms from now (what was in flight has landed)."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.1)
    start = loop.time()
    await asyncio.sleep(seconds)
    return start, loop.time()


async def established_call(engine: MediaEngine, phone: Baresip) -> Call:
    calls: list[Call] = []

    async def handler(call: Call) -> None:
        calls.append(call)
        await call.answer()

    engine.on_inbound(handler)
    host, port = engine.sip_address
    await phone.command("dial", f"sip:yotel@{host}:{port}")
    await phone.wait_event("CALL_ESTABLISHED", 10)
    assert len(calls) == 1
    return calls[0]


async def test_baresip_hold_gets_recvonly_no_rtp_and_a_versioned_o_line(
        engine: MediaEngine, tmp_path: Path) -> None:
    sip = UdpCapture(src_port=engine.sip_address[1]).start()
    try:
        async with baresip_running(BaresipOptions(timeout_s=40), workdir=tmp_path) as phone:
            call = await established_call(engine, phone)
            rtp = UdpCapture(src_port=call.leg.session.local_port).start()
            call.leg.session.rtcp_min_interval = 1.0  # reports within the test's seconds
            try:
                await flowing(rtp)
                await phone.command("hold")
                await _until(lambda: len(sdp_answers(sip)) == 2, phone)
                held = await window(1.0)
                assert call.leg.remote_hold
                await phone.command("resume")
                await _until(lambda: len(sdp_answers(sip)) == 3, phone)
                await flowing(rtp)
                await _until(lambda: call.leg.quality.rtt_ms is not None, phone, 15)
                quality = call.leg.quality
                await phone.command("hangup")
                assert (await call.wait_ended(5)).outcome == "caller_hangup"
            finally:
                rtp.stop()
    finally:
        sip.stop()
    first, on_hold, back = sdp_answers(sip)
    assert [a.media.direction for a in (first, on_hold, back)] == [
        "sendrecv", "recvonly", "sendrecv"]
    assert {a.session_id for a in (first, on_hold, back)} == {first.session_id}
    assert [on_hold.version, back.version] == [first.version + 1, first.version + 2]
    assert rtp_between(rtp, *held) == 0  # RFC 3264 §6.1: we answered recvonly
    # baresip's RTCP, parsed: its report about our stream, and the round trip.
    assert quality.reports_received >= 1 and quality.peer_fraction_lost == 0
    # Loopback: milliseconds when idle; a starved loop reads the report late, so the bound
    # only rules out a unit or echo error (which lands at seconds to hours, or None).
    assert quality.rtt_ms is not None and 0 <= quality.rtt_ms < 2000
    assert call.leg.session.stats.malformed == 0


async def _until(predicate: object, phone: Baresip, timeout: float = 5.0) -> None:
    assert callable(predicate)
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out; baresip said:\n{phone.output()}") from None


async def test_yotel_holds_baresip_sendonly_with_music_and_inactive_with_silence(
        engine: MediaEngine, tmp_path: Path) -> None:
    """Yotel calls baresip (auto-answer) and holds it: `sendonly` keeps our RTP (music on
    hold), `inactive` stops it, resume brings it back; baresip's answers say so."""
    async with baresip_running(BaresipOptions(timeout_s=30), workdir=tmp_path) as phone:
        call = await engine.originate(phone.uri)
        await asyncio.wait_for(call.answered.wait(), 10)
        leg = call.leg
        rtp = UdpCapture(src_port=leg.session.local_port).start()
        try:
            directions = []
            for step in (leg.hold("sendonly"), leg.hold("inactive"), leg.unhold()):
                await step
                assert leg.dialog is not None
                directions.append(SessionDescription.parse(leg.dialog.remote_sdp or b"")
                                  .media.direction)
                if leg.held and leg.hold_direction == "inactive":
                    silent = await window(0.6)
                else:  # music on hold, then the resumed call: our RTP goes on
                    await flowing(rtp)
            await call.hangup()
        finally:
            rtp.stop()
    assert directions == ["recvonly", "inactive", "sendrecv"]
    assert rtp_between(rtp, *silent) == 0
    assert not leg.held
