"""Admission control for inbound INVITEs: the pure policy, and a flood on the wire while a real
call is up (the call keeps its audio, a real caller still gets in, no RTP goes to an address that
never completed the handshake)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest

from yotel.fork.client import ForkConfig
from yotel.media.admission import Admission, AdmissionLimits
from yotel.media.call import Call
from yotel.media.engine import MediaConfig, MediaEngine
from yotel.rtp.ports import RtpPortPool
from yotel.sip.invite import IncomingInvite
from yotel.testing.audio import tone_g711
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone

FLOOD_HOST = "127.0.0.2"
FLOODER = Path(__file__).with_name("flooder.py")


def test_a_source_is_capped_by_pending_and_rate_and_others_keep_their_share() -> None:
    admission = Admission(AdmissionLimits(pending_per_source=3, pending_total=10,
                                          rate_per_source=1.0, burst_per_source=5.0,
                                          reserve=0.2))
    assert [admission.admit("10.0.0.1", 0.0) for _ in range(4)] == [None, None, None,
                                                                     "source_pending"]
    for _ in range(3):
        admission.release("10.0.0.1", completed=False, now=0.0)
    assert admission.admit("10.0.0.1", 0.0) is None and admission.admit("10.0.0.1", 0.0) is None
    assert admission.admit("10.0.0.1", 0.0) == "source_rate"  # burst of 5 spent
    admission.release("10.0.0.1", completed=True, now=1.0)  # completed: trusted from now on
    # With its one call pending, seven untrusted sources fill the untrusted share (8 of 10) ...
    others = [f"10.0.1.{i}" for i in range(8)]
    results = [admission.admit(source, 2.0) for source in others]
    assert results == [None] * 7 + ["total_pending"]
    # ... and the trusted source still gets in, from the reserve.
    assert admission.admit("10.0.0.1", 3.0) is None
    assert admission.refused["total_pending"] == 1 and admission.refused["source_rate"] == 1


def test_the_node_rate_is_shared_and_refills() -> None:
    admission = Admission(AdmissionLimits(rate_total=2.0, burst_total=2.0, rate_per_source=100,
                                          burst_per_source=100))
    assert [admission.admit(f"s{i}", 0.0) for i in range(3)] == [None, None, "total_rate"]
    assert admission.admit("s9", 0.6) is None


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=37000, rtp_port_max=38999,
                                     recordings_dir=tmp_path, allow_insecure=True))
    await engine.start()
    yield engine
    await engine.close()


async def test_an_invite_flood_costs_a_live_call_nothing(engine: MediaEngine) -> None:
    host, port = engine.sip_address
    calls: list[Call] = []
    ai_config: list[ForkConfig] = []

    async def handler(call: Call) -> None:
        calls.append(call)
        await call.answer()
        if not call.from_uri.startswith("sip:flood") and call.state == "answered":
            await call.attach_fork(ai_config[0], {"call_id": call.id})

    async def screen(incoming: IncomingInvite) -> int | None:
        return None if incoming.to_uri.user == "100" else 404

    engine.on_inbound(handler, screen=screen)
    bait = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the address the flood's SDP names
    bait.bind((FLOOD_HOST, 0))
    bait.setblocking(False)
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind((FLOOD_HOST, 0))
    phone = await Phone(RtpPortPool(39000, 39498)).start()
    late = await Phone(RtpPortPool(39500, 39998)).start()
    async with FakeVoiceAI(mode="silent") as ai:
        ai_config.append(ForkConfig(url=ai.url, allow_insecure=True))
        try:
            await phone.call(f"sip:100@{host}:{port}")
            phone.send_audio(tone_g711(440, 1.0))
            await asyncio.sleep(0.5)
            session = await ai.latest_session()
            # The machine is shared: what a quiet spell of the same length loses is the noise
            # floor; the flood may add no more than 1 % of the frames to it.
            quiet = await frames_during(session.binary, phone, asyncio.sleep(3.0))
            flooded = await frames_during(session.binary, phone, flood_then_call(
                flood, port, bait.getsockname()[1], late, f"sip:100@{host}:{port}"))
            for side in ("ai", "phone"):
                assert flooded.loss(side) <= quiet.loss(side) + 0.01, (side, quiet, flooded)
            assert late.dialog is not None
            assert sum(engine.admission.refused.values()) >= 900  # of the 1 000 INVITEs
            with pytest.raises(BlockingIOError):
                bait.recv(2048)  # not one RTP packet to an unconfirmed address
            bogus = [c for c in calls if c.from_uri.startswith("sip:flood")]
            assert bogus and all(c.state != "answered" for c in bogus)
            assert engine.admission.pending[FLOOD_HOST] <= 8
        finally:
            for call in list(engine.calls.values()):
                await call.hangup()
            await phone.close()
            await late.close()
            bait.close()


@dataclass(frozen=True)
class Frames:
    expected: float
    ai: int
    phone: int

    def loss(self, side: str) -> float:
        got = self.ai if side == "ai" else self.phone
        return max(0.0, 1.0 - got / self.expected)


async def frames_during(ai_frames: list[tuple[float, bytes]], phone: Phone,
                        work: Awaitable[object]) -> Frames:
    """How many 20 ms frames the AI and the phone received while `work` ran."""
    loop = asyncio.get_running_loop()
    ai_before, phone_before, started = len(ai_frames), len(phone.received), loop.time()
    await work
    return Frames((loop.time() - started) / 0.02, len(ai_frames) - ai_before,
                  len(phone.received) - phone_before)


async def flood_then_call(sock: socket.socket, port: int, sdp_port: int, caller: Phone,
                          uri: str) -> None:
    """2 000 INVITEs in 10 s from one source (the issue's flood, at half length), then a real
    caller from another source dials in."""
    await send_flood(sock, port, sdp_port, count=1000, seconds=5.0)
    await caller.call(uri)


async def send_flood(sock: socket.socket, port: int, sdp_port: int, *, count: int,
                     seconds: float) -> None:
    """The flood comes from another process, as an attacker's would: its own CPU, not the
    engine's loop, builds and sends it."""
    source_port = sock.getsockname()[1]
    sock.close()  # the child binds it; we only held it to pick a free port
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(FLOODER), FLOOD_HOST, str(source_port), str(port), str(sdp_port),
        str(count), str(seconds))
    assert await asyncio.wait_for(process.wait(), seconds + 20) == 0


async def test_an_unknown_did_is_refused_404_before_any_port_is_taken(
        engine: MediaEngine) -> None:
    host, port = engine.sip_address

    async def handler(call: Call) -> None:
        raise AssertionError("the flow must not run for an unknown DID")

    async def screen(incoming: IncomingInvite) -> int | None:
        return 404

    engine.on_inbound(handler, screen=screen)
    phone = await Phone(RtpPortPool(39000, 39498)).start()
    try:
        with pytest.raises(Exception) as failure:
            await phone.call(f"sip:999@{host}:{port}")
        assert getattr(failure.value, "status", None) == 404
        assert engine.ports.in_use == 0 and engine.stats.screened_out == 1
        assert not engine.admission.pending
    finally:
        await phone.close()
