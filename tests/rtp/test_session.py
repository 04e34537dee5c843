"""RTP sessions exchanging frames and digits over real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from yotel.rtp.packet import RtpPacket
from yotel.rtp.ports import PortsExhausted, RtpPortPool
from yotel.rtp.session import RtpSession


async def pair() -> tuple[RtpSession, RtpSession]:
    pool = RtpPortPool(30000, 39999)
    a, b = await RtpSession.open("127.0.0.1", pool), await RtpSession.open("127.0.0.1", pool)
    a.configure(payload_type=0, dtmf_pt=101, remote=("127.0.0.1", b.local_port))
    b.configure(payload_type=0, dtmf_pt=101, remote=("127.0.0.1", a.local_port))
    return a, b


async def until(predicate: object, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_frames_flow_with_correct_headers() -> None:
    a, b = await pair()
    got: list[tuple[bytes, int, int]] = []
    b.on_audio = lambda payload, ts, seq: got.append((payload, ts, seq))
    for i in range(5):
        a.send_frame(bytes([i]) * 160)
    await until(lambda: len(got) == 5)
    assert [p[0][0] for p in got] == [0, 1, 2, 3, 4]
    assert [(got[i + 1][1] - got[i][1]) & 0xFFFFFFFF for i in range(4)] == [160] * 4
    assert [(got[i + 1][2] - got[i][2]) & 0xFFFF for i in range(4)] == [1] * 4
    assert a.stats.packets_sent == 5 and b.stats.packets_received == 5
    assert b.stats.packets_lost == 0
    a.close()
    b.close()


async def test_dtmf_digit_arrives_once() -> None:
    a, b = await pair()
    digits: list[tuple[str, int]] = []
    b.on_dtmf = lambda d, ms: digits.append((d, ms))
    await a.send_dtmf("9", 100)
    await until(lambda: digits)
    await asyncio.sleep(0.05)
    assert digits == [("9", 100)]
    a.close()
    b.close()


async def test_symmetric_rtp_latches_to_the_real_source_and_counts_loss() -> None:
    pool = RtpPortPool(30000, 39999)
    ours = await RtpSession.open("127.0.0.1", pool)
    ours.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", 9))  # SDP says port 9
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    for seq in (1, 2, 5):  # 3 and 4 lost
        transport.sendto(bytes(RtpPacket(0, seq, seq * 160, 42, b"\xff" * 160)),
                         ("127.0.0.1", ours.local_port))
    transport.sendto(b"\x00junk", ("127.0.0.1", ours.local_port))
    transport.sendto(bytes(RtpPacket(96, 6, 960, 42, b"x")), ("127.0.0.1", ours.local_port))
    await until(lambda: ours.stats.packets_received == 3 and ours.stats.unexpected_pt == 1)
    assert ours.stats.packets_lost == 2 and ours.stats.malformed == 1
    ours.send_frame(b"\xff" * 160)
    echoed = RtpPacket.parse(await asyncio.wait_for(received.get(), 2))
    assert echoed.marker and echoed.payload_type == 0
    transport.close()
    ours.close()


def test_port_pool_hands_out_even_ports_until_exhausted() -> None:
    pool = RtpPortPool(20001, 20008)
    ports = {pool.allocate() for _ in range(3)}
    assert ports == {20002, 20004, 20006}
    with pytest.raises(PortsExhausted):
        pool.allocate()
    pool.release(20004)
    assert pool.allocate() == 20004
