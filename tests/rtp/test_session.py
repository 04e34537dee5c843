"""RTP sessions exchanging frames and digits over real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from yotel.rtp.dtmf import dtmf_train
from yotel.rtp.packet import RtpPacket
from yotel.rtp.ports import PortsExhausted, RtpPortPool
from yotel.rtp.rtcp import RR, RtcpPacket
from yotel.rtp.session import RtpSession


@pytest.fixture
def pool() -> RtpPortPool:
    return RtpPortPool(30000, 39999)


async def pair(pool: RtpPortPool) -> tuple[RtpSession, RtpSession]:
    a, b = await RtpSession.open("127.0.0.1", pool), await RtpSession.open("127.0.0.1", pool)
    a.configure(payload_type=0, dtmf_pt=101, remote=("127.0.0.1", b.local_port))
    b.configure(payload_type=0, dtmf_pt=101, remote=("127.0.0.1", a.local_port))
    return a, b


async def until(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class Peer(asyncio.DatagramProtocol):
    """A bare UDP endpoint standing in for a phone: sends raw bytes, queues what it gets."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, ("127.0.0.1", port))

    async def next(self) -> RtpPacket:
        return RtpPacket.parse(await asyncio.wait_for(self.received.get(), 2))


MakePeer = Callable[[], Awaitable[Peer]]


@pytest.fixture
async def peers() -> AsyncIterator[MakePeer]:
    loop = asyncio.get_running_loop()
    made: list[Peer] = []

    async def make() -> Peer:
        transport, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
        peer.transport = transport
        made.append(peer)
        return peer

    yield make
    for peer in made:
        assert peer.transport is not None
        peer.transport.close()


async def test_frames_flow_with_correct_headers(pool: RtpPortPool) -> None:
    a, b = await pair(pool)
    got: list[tuple[bytes, int, int]] = []
    b.on_audio = lambda payload, ts, seq: got.append((payload, ts, seq))
    for i in range(5):
        a.send_frame(bytes([i]) * 160)
    await until(lambda: len(got) == 5)
    assert [p[0][0] for p in got] == [0, 1, 2, 3, 4]
    assert [(got[i + 1][1] - got[i][1]) & 0xFFFFFFFF for i in range(4)] == [160] * 4
    assert [(got[i + 1][2] - got[i][2]) & 0xFFFF for i in range(4)] == [1] * 4
    assert (a.stats.packets_sent, a.stats.bytes_sent) == (5, 5 * 172)
    assert (b.stats.packets_received, b.stats.bytes_received, b.stats.packets_lost) == (
        5, 5 * 172, 0)
    a.close()
    b.close()
    assert a.closed and pool.in_use == 0


async def test_dtmf_digit_arrives_once_and_audio_pauses_meanwhile(pool: RtpPortPool) -> None:
    a, b = await pair(pool)
    digits: list[tuple[str, int]] = []
    audio: list[int] = []
    b.on_dtmf = lambda d, ms: digits.append((d, ms))
    b.on_audio = lambda _payload, ts, _seq: audio.append(ts)
    a.send_frame(b"\xff" * 160)
    sending = asyncio.ensure_future(a.send_dtmf("9", 100))
    await asyncio.sleep(0)
    a.send_frame(b"\xff" * 160)  # withheld: a digit is playing
    await sending
    a.send_frame(b"\xff" * 160)
    await until(lambda: digits and len(audio) == 2)
    assert digits == [("9", 100)]
    assert (audio[1] - audio[0]) & 0xFFFFFFFF >= 800  # the clock covered the 100 ms press
    assert a.stats.dtmf_digits_sent == 1 and b.stats.dtmf_digits_received == 1
    with pytest.raises(ValueError):
        await a.send_dtmf("Z")
    a.close()
    b.close()


async def test_dtmf_train_on_the_wire(pool: RtpPortPool, peers: MakePeer) -> None:
    ours, peer = await RtpSession.open("127.0.0.1", pool), await peers()
    assert peer.transport is not None
    ours.configure(payload_type=8, dtmf_pt=96,
                   remote=peer.transport.get_extra_info("sockname"))
    await ours.send_dtmf("5", 60)
    packets = [await peer.next() for _ in range(5)]
    assert {p.payload_type for p in packets} == {96}
    assert len({p.timestamp for p in packets}) == 1
    assert [p.marker for p in packets] == [True, False, False, False, False]
    assert [p.payload for p in packets] == [p for p, _ in dtmf_train("5", 60)]
    ours.send_frame(b"\xd5" * 160)
    after = await peer.next()
    assert after.payload_type == 8 and after.marker  # a new talkspurt
    ours.close()


async def test_latches_to_the_real_source_counts_loss_and_drops_junk(
        pool: RtpPortPool, peers: MakePeer) -> None:
    ours, peer = await RtpSession.open("127.0.0.1", pool), await peers()
    ours.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9))  # SDP says port 9
    got: list[int] = []
    ours.on_audio = lambda _p, _ts, seq: got.append(seq)
    for seq in (1, 2, 5, 5, 4):  # 3 lost, 5 duplicated, 4 late
        peer.send(bytes(RtpPacket(0, seq, seq * 160, 42, b"\xff" * 160)), ours.local_port)
    peer.send(b"\x00junk", ours.local_port)
    peer.send(bytes(RtpPacket(96, 6, 960, 42, b"x")), ours.local_port)
    peer.send(bytes(RtcpPacket(RR, 0, b"\0\0\0\x2a")), ours.local_port)  # rtcp-mux
    await until(lambda: ours.stats.unexpected_pt == 1 and ours.stats.rtcp == 1
                and ours.stats.malformed == 1 and len(got) == 4)
    assert got == [1, 2, 5, 4]
    stats = ours.stats
    assert (stats.packets_lost, stats.duplicates, stats.late) == (1, 1, 1)
    ours.send_frame(b"\xff" * 160)
    echoed = await peer.next()
    assert echoed.marker and echoed.payload_type == 0
    ours.close()


async def test_reoffer_keeps_the_latch_and_a_new_address_moves_it(
        pool: RtpPortPool, peers: MakePeer) -> None:
    ours, nat, moved = await RtpSession.open("127.0.0.1", pool), await peers(), await peers()
    ours.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9))
    nat.send(bytes(RtpPacket(0, 1, 160, 7, b"\xff" * 160)), ours.local_port)
    await until(lambda: ours.stats.packets_received == 1)
    ours.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9))  # hold re-INVITE
    ours.send_frame(b"\xff" * 160)
    assert (await nat.next()).payload_type == 0
    assert moved.transport is not None
    ours.set_remote(moved.transport.get_extra_info("sockname"))  # media moved by SDP
    ours.send_frame(b"\xff" * 160)
    assert (await moved.next()).payload_type == 0
    ours.close()


async def test_rtcp_on_the_odd_port_is_counted(pool: RtpPortPool, peers: MakePeer) -> None:
    ours, peer = await RtpSession.open("127.0.0.1", pool), await peers()
    peer.send(bytes(RtcpPacket(RR, 0, b"\0\0\0\x01")), ours.local_port + 1)
    peer.send(b"\x80\xc9\x00\x09garbage", ours.local_port + 1)
    await until(lambda: ours.stats.rtcp == 1 and ours.stats.malformed == 1)
    assert ours.stats.packets_received == 0
    ours.close()


def bind_even_port() -> socket.socket:
    for _ in range(50):
        blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        blocker.bind(("127.0.0.1", 0))
        if blocker.getsockname()[1] % 2 == 0 and blocker.getsockname()[1] < 65000:
            return blocker
        blocker.close()
    raise AssertionError("no even ephemeral port")


async def test_open_skips_ports_the_os_refuses() -> None:
    blocker = bind_even_port()
    taken = blocker.getsockname()[1]
    try:
        pool = RtpPortPool(taken, taken + 3)  # two even ports: taken, taken + 2
        pool.allocate(), pool.allocate()
        pool.release(taken)  # queue the taken port first
        pool.release(taken + 2)
        session = await RtpSession.open("127.0.0.1", pool)
        assert session.local_port == taken + 2
        assert (pool.in_use, pool.available) == (1, 1)
        session.close()
    finally:
        blocker.close()


def test_port_pool_hands_out_even_ports_until_exhausted() -> None:
    pool = RtpPortPool(20001, 20008)
    ports = {pool.allocate() for _ in range(3)}
    assert ports == {20002, 20004, 20006}
    with pytest.raises(PortsExhausted, match="20001-20008"):
        pool.allocate()
    pool.release(20004)
    pool.release(20004)  # twice is harmless
    assert pool.allocate() == 20004 and pool.available == 0
    with pytest.raises(ValueError):
        RtpPortPool(20001, 20001)


async def test_captured_sipp_digit_over_udp_is_reported_once(
        pool: RtpPortPool, peers: MakePeer) -> None:
    from .test_packet_g711_dtmf import SIPP_DIGIT_1

    ours, peer = await RtpSession.open("127.0.0.1", pool), await peers()
    ours.configure(payload_type=8, dtmf_pt=101, remote=("127.0.0.1", 9))
    digits: list[tuple[str, int]] = []
    ours.on_dtmf = lambda d, ms: digits.append((d, ms))
    for wire in SIPP_DIGIT_1:
        peer.send(wire, ours.local_port)
    await until(lambda: ours.stats.packets_received + ours.stats.duplicates == 10)
    assert digits == [("1", 280)] and ours.stats.duplicates == 2  # repeats share a seq
    ours.close()


async def test_a_stranger_cannot_steal_the_latch_and_consumer_bugs_do_not_kill_the_socket(
        pool: RtpPortPool, peers: MakePeer) -> None:
    ours, phone, stranger = (await RtpSession.open("127.0.0.1", pool), await peers(),
                             await peers())
    ours.configure(payload_type=0, dtmf_pt=101, remote=("127.0.0.1", 9))
    got: list[int] = []

    def consume(_payload: bytes, _ts: int, seq: int) -> None:
        got.append(seq)
        if seq == 2:
            raise RuntimeError("a bug in the consumer")

    ours.on_audio = consume
    for seq in (1, 2):
        phone.send(bytes(RtpPacket(0, seq, seq * 160, 7, b"\xff" * 160)), ours.local_port)
    await until(lambda: len(got) == 2)
    stranger.send(bytes(RtpPacket(0, 500, 1, 99, b"\x00" * 160)), ours.local_port)
    await until(lambda: ours.stats.foreign == 1)
    phone.send(bytes(RtpPacket(0, 900, 1, 8, b"\xff" * 160)), ours.local_port)  # new stream
    await until(lambda: len(got) == 3)
    assert got == [1, 2, 900] and ours.stats.restarts == 1 and ours.stats.callback_errors == 1
    ours.send_frame(b"\xff" * 160)
    assert (await phone.next()).payload_type == 0
    assert stranger.received.empty()
    ours.close()


async def test_a_zero_address_stops_sending_and_resuming_keeps_the_latch(
        pool: RtpPortPool, peers: MakePeer) -> None:
    ours, phone = await RtpSession.open("127.0.0.1", pool), await peers()
    sdp_address = ("127.0.0.1", 9)  # stands for a NAT'd phone's private, unreachable address
    ours.configure(payload_type=0, dtmf_pt=None, remote=sdp_address)
    phone.send(bytes(RtpPacket(0, 1, 160, 7, b"\xff" * 160)), ours.local_port)
    await until(lambda: ours.stats.packets_received == 1)
    ours.set_remote(("0.0.0.0", 4000))  # RFC 2543-style hold
    ours.send_frame(b"\xff" * 160)
    assert ours.stats.packets_sent == 0
    ours.set_remote(sdp_address)  # resumed
    ours.send_frame(b"\xff" * 160)
    assert (await phone.next()).payload_type == 0 and ours.stats.packets_sent == 1
    ours.close()
