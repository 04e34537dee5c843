"""RtpSession on real UDP sockets: RTCP reports both ways (RFC 3550 §6), padded packets (§5.1)
and the send gate (RFC 3264 §6.1)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from yotel.rtp.packet import RtpPacket
from yotel.rtp.ports import RtpPortPool
from yotel.rtp.rtcp import BYE, RR, SDES, SR, RtcpPacket, parse_compound
from yotel.rtp.session import RtpSession

FRAME = b"\xff" * 160
Open = Callable[[], Awaitable[RtpSession]]
FAST = 0.25  # Tmin for the tests: reports every ~0.1-0.3 s instead of 2-6 s


class Socket(asyncio.DatagramProtocol):
    """A bare UDP endpoint (a phone's RTP or RTCP port): queues what it gets."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def next_compound(self, timeout: float = 3.0) -> list[RtcpPacket]:
        data, _ = await asyncio.wait_for(self.received.get(), timeout)
        return parse_compound(data)


async def bind(port: int = 0) -> Socket:
    transport, sock = await asyncio.get_running_loop().create_datagram_endpoint(
        Socket, local_addr=("127.0.0.1", port))
    sock.transport = transport
    return sock


@pytest.fixture
async def sessions() -> AsyncIterator[Open]:
    pool = RtpPortPool(43000, 43999)
    opened: list[RtpSession] = []

    async def open_one() -> RtpSession:
        session = await RtpSession.open("127.0.0.1", pool)
        session.rtcp_min_interval = FAST
        opened.append(session)
        return session

    yield open_one
    for session in opened:
        session.close()


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def stream(session: RtpSession, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    while loop.time() - start < seconds:
        session.send_frame(FRAME)
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))


async def test_two_sessions_exchange_reports_and_measure_the_round_trip(sessions: Open) -> None:
    a, b = await sessions(), await sessions()
    a.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", b.local_port))
    b.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", a.local_port))
    talking = asyncio.gather(stream(a, 1.5), stream(b, 1.5))
    try:
        await until(lambda: a.quality.rtt_ms is not None and b.quality.rtt_ms is not None)
    finally:
        await talking
    for ours, theirs in ((a, b), (b, a)):
        q = ours.quality
        assert q.reports_received >= 1 and q.reports_sent >= 1 and ours.stats.rtcp >= 1
        assert q.rtt_ms is not None and 0 <= q.rtt_ms < 1000  # loopback, even when loaded
        assert q.peer_fraction_lost == 0 and q.peer_packets_lost == 0
        assert q.peer_jitter_ms is not None and q.peer_jitter_ms < 20
        assert q.packets_received == theirs.stats.packets_sent and q.packets_lost == 0
        assert ours.stats.malformed == 0


async def test_receiver_report_about_a_lossy_stream_reaches_the_peer(sessions: Open) -> None:
    """A raw phone sends RTP with gaps from port P; the session's RR goes to P+1 and says
    what was lost; the phone's SR gives the session its LSR to echo."""
    session = await sessions()
    for _ in range(20):  # an even RTP port with its RTCP twin free
        rtp = await bind()
        assert rtp.transport is not None
        port = rtp.transport.get_extra_info("sockname")[1]
        try:
            rtcp = await bind(port + 1)
            break
        except OSError:
            rtp.transport.close()
    else:
        pytest.skip("no free port pair")
    try:
        session.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", port))
        for seq in [*range(100, 110), *range(112, 120)]:  # 110 and 111 lost
            rtp.send(bytes(RtpPacket(0, seq, seq * 160, 0xABCD, FRAME)), session.local_port)
        await until(lambda: session.stats.packets_received == 18)
        report = await rtcp.next_compound()
        while not report[0].report_blocks():
            report = await rtcp.next_compound()
        assert report[0].packet_type == RR  # the session sent no RTP: a receiver report
        assert [p.packet_type for p in report] == [RR, SDES]
        [block] = report[0].report_blocks()
        assert (block.ssrc, block.cumulative_lost, block.highest_sequence) == (0xABCD, 2, 119)
        assert block.fraction_lost == (2 << 8) // 20 and block.last_sr == 0
        assert session.quality.packets_lost == 2
    finally:
        for sock in (rtp, rtcp):
            assert sock.transport is not None
            sock.transport.close()


async def test_rtcp_attribute_address_and_bye_on_close(sessions: Open) -> None:
    session = await sessions()
    elsewhere = await bind()  # RFC 3605 a=rtcp: not RTP port + 1
    assert elsewhere.transport is not None
    port = elsewhere.transport.get_extra_info("sockname")[1]
    try:
        session.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9),
                          rtcp=("127.0.0.1", port))
        for _ in range(3):
            session.send_frame(FRAME)
        first = await elsewhere.next_compound()
        assert first[0].packet_type == SR and first[0].sender_info().packet_count == 3
        session.close()
        while (last := await elsewhere.next_compound())[-1].packet_type != BYE:
            pass
        assert last[-1].ssrc == session.ssrc  # §6.6: BYE ends our source
    finally:
        elsewhere.transport.close()


async def test_padded_packet_is_read_not_dropped(sessions: Open) -> None:
    session = await sessions()
    phone = await bind()
    got: list[bytes] = []
    session.on_audio = lambda payload, ts, seq: got.append(payload)
    session.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9))
    try:
        plain = bytes(RtpPacket(0, 1, 160, 0x55, FRAME))
        padded = bytes(RtpPacket(0, 2, 320, 0x55, b"\x01" * 160, padding=4))  # RFC 3550 §5.1
        padded_ext = bytes(RtpPacket(0, 3, 480, 0x55, b"\x02" * 160, csrc=(7,),
                                     extension=(0xBEDE, b"\0" * 4), padding=1))
        for data in (plain, padded, padded_ext):
            phone.send(data, session.local_port)
        await until(lambda: len(got) == 3)
        assert got == [FRAME, b"\x01" * 160, b"\x02" * 160]
        assert session.stats.malformed == 0 and session.quality.packets_received == 3
    finally:
        assert phone.transport is not None
        phone.transport.close()


async def test_gate_stops_frames_and_digits_and_resume_marks(sessions: Open) -> None:
    session = await sessions()
    phone = await bind()
    assert phone.transport is not None
    session.configure(payload_type=0, dtmf_pt=101,
                      remote=("127.0.0.1", phone.transport.get_extra_info("sockname")[1]))
    try:
        session.send_frame(FRAME)
        session.may_send = False  # RFC 3264 §6.1: our answer said recvonly
        for _ in range(10):
            session.send_frame(FRAME)
        await session.send_dtmf("1", 40)
        session.may_send = True
        session.send_frame(FRAME)
        packets = []
        with contextlib.suppress(TimeoutError):
            while True:
                data, _ = await asyncio.wait_for(phone.received.get(), 0.3)
                packets.append(RtpPacket.parse(data))
        assert [p.payload_type for p in packets] == [0, 0]  # no digit, 10 frames withheld
        first, resumed = packets
        assert resumed.sequence == (first.sequence + 1) & 0xFFFF  # seq counts packets sent
        assert resumed.marker and resumed.timestamp - first.timestamp >= 11 * 160
        assert session.stats.packets_sent == 2
    finally:
        phone.transport.close()
