"""Leg on the wire: a real SIP dialog between two UserAgents and real RTP sockets. The peer is
scripted (its offers and answers are crafted here); our Leg sends 20 ms frames like the media
clock does, and a plain UDP socket stands in for the peer's RTP port and counts what arrives.

RFC 3264 §6.1/§8.4: what our negotiated direction says about sending; §8: the o= line of every
SDP we send in one dialog; a refused hold leaves the leg as it was."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from yotel.media.leg import Leg
from yotel.rtp.packet import RtpPacket
from yotel.rtp.ports import RtpPortPool
from yotel.rtp.session import RtpSession
from yotel.sip.dialog import Dialog, InviteFailed
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import SessionDescription, build_offer
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

FRAME = b"\xd5" * 160


class Sink(asyncio.DatagramProtocol):
    """The peer's RTP port: every packet that arrives, with its arrival time."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append((asyncio.get_running_loop().time(), RtpPacket.parse(data)))

    def count_between(self, start: float, end: float) -> int:
        return sum(1 for t, _ in self.packets if start <= t < end)


@dataclass
class Peer:
    """The scripted far end: its dialog with our leg, its RTP sink, its offers."""

    dialog: Dialog
    sink: Sink
    port: int
    answers: list[SessionDescription] = field(default_factory=list)  # ours, as received
    refuse: int | None = None  # answer our re-INVITEs with this status (via ValueError: 488)

    def offer(self, direction: str = "sendrecv") -> bytes:
        return bytes(build_offer("127.0.0.1", self.port, ["PCMU"], direction=direction,
                                 session_id=4242))

    async def reoffer(self, body: bytes | None) -> SessionDescription:
        answer = SessionDescription.parse(await self.dialog.reinvite(body or b""))
        self.answers.append(answer)
        return answer


@dataclass
class Wire:
    leg: Leg
    peer: Peer
    peer_ua: UserAgent
    _clock: asyncio.Task[None] | None = None

    def start_clock(self) -> None:
        """Our media clock: a frame every 20 ms (deadline-paced) into the leg."""
        async def tick() -> None:
            loop = asyncio.get_running_loop()
            start, n = loop.time(), 0
            while True:
                self.leg.send_frame(FRAME)
                n += 1
                await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))
        self._clock = asyncio.create_task(tick())

    async def stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock

    async def flowing(self, packets: int = 10, timeout: float = 5.0) -> None:
        """Until `packets` more of ours reach the peer (a loaded machine sends late, not
        never: the count, not the rate, tells sending from silence)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(timeout):
            while self.peer.sink.count_between(start, loop.time() + 1) < packets:
                await asyncio.sleep(0.01)

    async def sent_during(self, seconds: float) -> int:
        """RTP packets the peer received from us over the next `seconds` (after 60 ms for
        in-flight packets of the previous state)."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.06)
        start = loop.time()
        await asyncio.sleep(seconds)
        return self.peer.sink.count_between(start, loop.time())


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    """The peer calls us; our Leg answers (as the engine's inbound path does)."""
    loop = asyncio.get_running_loop()
    session = await RtpSession.open("127.0.0.1", RtpPortPool(41000, 41999))
    leg = Leg(session, address="127.0.0.1")
    attached = asyncio.Event()

    async def on_invite(incoming: IncomingInvite) -> None:
        body = leg.answer(incoming.offer or b"")
        leg.attach(await incoming.accept(body))
        attached.set()

    # T1 = 20 ms: Timer B (64*T1) gives up on a silent peer in 1.3 s instead of 32 s.
    ours = UserAgent("127.0.0.1", 0, on_invite=on_invite, timers=TimerConfig(t1=0.02))
    theirs = UserAgent("127.0.0.1", 0)
    await ours.start()
    await theirs.start()
    sink = Sink()
    transport, _ = await loop.create_datagram_endpoint(lambda: sink,
                                                       local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    offer = bytes(build_offer("127.0.0.1", port, ["PCMU"], session_id=4242))
    outgoing = await theirs.invite(f"sip:yotel@127.0.0.1:{ours.port}",
                                   from_uri="sip:peer@127.0.0.1", sdp=offer)
    dialog = await outgoing.wait_answer(timeout=5)
    await asyncio.wait_for(attached.wait(), 5)
    peer = Peer(dialog, sink, port, [SessionDescription.parse(dialog.remote_sdp or b"")])
    wire = Wire(leg, peer, theirs)
    try:
        yield wire
    finally:
        await wire.stop_clock()
        leg.close()
        transport.close()
        await theirs.close()
        await ours.close()


def origins(answers: list[SessionDescription]) -> list[tuple[int, int]]:
    return [(a.session_id, a.version) for a in answers]


async def test_peer_hold_answered_recvonly_stops_our_rtp_until_resumed(wire: Wire) -> None:
    wire.start_clock()
    await wire.flowing()
    held = await wire.peer.reoffer(wire.peer.offer("sendonly"))
    assert held.media.direction == "recvonly" and wire.leg.remote_hold
    assert await wire.sent_during(0.5) == 0  # RFC 3264 §6.1: recvonly, we send nothing
    resumed = await wire.peer.reoffer(wire.peer.offer("sendrecv"))
    assert resumed.media.direction == "sendrecv" and not wire.leg.remote_hold
    await wire.flowing()
    # The first packet after the silence is marked (RFC 3551 §4.1) and its timestamp covers
    # the time on hold: the RTP clock kept running.
    before = [p for t, p in wire.peer.sink.packets]
    gap = next(i for i in range(1, len(before))
               if before[i].sequence == (before[i - 1].sequence + 1) & 0xFFFF and before[i].marker)
    assert before[gap].timestamp - before[gap - 1].timestamp >= 8000 * 0.5


async def test_inactive_hold_stops_us_too_and_rtp_still_arrives(wire: Wire) -> None:
    received: list[int] = []
    wire.leg.session.on_audio = lambda payload, ts, seq: received.append(seq)
    wire.start_clock()
    answer = await wire.peer.reoffer(wire.peer.offer("inactive"))
    assert answer.media.direction == "inactive"
    assert await wire.sent_during(0.3) == 0
    # Held by the peer, we still receive (its music on hold would come this way).
    session = wire.leg.session
    sender = await RtpSession.open("127.0.0.1", RtpPortPool(42000, 42999))
    try:
        sender.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", session.local_port))
        for _ in range(5):
            sender.send_frame(FRAME)
        for _ in range(50):
            if len(received) == 5:
                break
            await asyncio.sleep(0.01)
    finally:
        sender.close()
    assert len(received) == 5
    await wire.leg.send_dtmf("5", 60)  # DTMF respects the gate as well
    assert await wire.sent_during(0.1) == 0


async def test_o_line_keeps_session_id_and_counts_new_sdp_only(wire: Wire) -> None:
    peer = wire.peer
    await peer.reoffer(peer.offer("sendonly"))  # new SDP: recvonly
    await peer.reoffer(peer.offer("sendonly"))  # the same offer again: the same answer
    await peer.reoffer(peer.offer("sendrecv"))  # new SDP: sendrecv
    await peer.reoffer(None)  # offerless re-INVITE (§14.2): we offer the unchanged session
    [(sid, first), *rest] = origins(peer.answers)
    assert rest == [(sid, first + 1), (sid, first + 1), (sid, first + 2), (sid, first + 2)]
    # Two legs are two sessions: their ids differ, nothing is shared between dialogs.
    other = Leg(wire.leg.session, address="127.0.0.1")
    assert SessionDescription.parse(other.offer()).session_id != sid


async def test_our_hold_sendonly_keeps_music_and_inactive_stops_it(wire: Wire) -> None:
    wire.start_clock()
    await wire.leg.hold()  # sendonly: the peer answers recvonly; we keep sending (music)
    assert wire.leg.held and wire.leg.local is not None
    assert wire.leg.local.media.direction == "sendonly"
    await wire.flowing()
    await wire.leg.hold("inactive")
    assert await wire.sent_during(0.3) == 0
    await wire.leg.unhold()
    assert not wire.leg.held
    await wire.flowing()
    # Three re-INVITEs, three new SDPs of the same session (RFC 3264 §8).
    last = SessionDescription.parse(wire.peer.dialog.remote_sdp or b"")
    first = wire.peer.answers[0]
    assert (last.session_id, last.version) == (first.session_id, first.version + 3)


@pytest.mark.parametrize("refusal", ["not_acceptable", "no_answer"])
async def test_refused_hold_leaves_the_leg_as_it_was(wire: Wire, refusal: str) -> None:
    async def refuse(offer: bytes | None) -> bytes:
        raise ValueError("no")  # the peer's dialog answers 488 Not Acceptable Here

    if refusal == "not_acceptable":
        wire.peer.dialog.on_reinvite = refuse
    else:
        await wire.peer_ua.close()  # the peer is gone: Timer B, 408
    before = wire.leg.local
    wire.start_clock()
    with pytest.raises(InviteFailed) as failure:
        await asyncio.wait_for(wire.leg.hold("inactive"), 10)
    assert failure.value.status == (488 if refusal == "not_acceptable" else 408)
    assert not wire.leg.held and wire.leg.local is before and wire.leg.session.may_send
    if refusal == "not_acceptable":  # the session goes on as before: we still send
        await wire.flowing()
        wire.peer.dialog.on_reinvite = None  # the peer takes the next one
        await wire.leg.hold()
        assert wire.leg.held
