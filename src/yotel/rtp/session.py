"""One leg's RTP socket: send 20 ms G.711 frames and RFC 4733 digits, receive the peer's.

The receive path is the media hot path (50 packets/s per call): `datagram_received` reads the
fixed header with one `struct` call, filters by payload type, and hands the payload on without
building objects. Symmetric RTP (RFC 4961): we send to where the peer's packets come from,
which is what reaches a phone behind NAT whatever its SDP says.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from yotel.rtp.dtmf import DtmfReceiver, dtmf_train
from yotel.rtp.packet import HEADER, is_rtcp, read_header
from yotel.rtp.ports import RtpPortPool

log = logging.getLogger(__name__)
Address = tuple[str, int]
AudioCallback = Callable[[bytes, int, int], None]  # payload, rtp timestamp, sequence
DtmfCallback = Callable[[str, int], None]  # digit, duration_ms
SAMPLES_PER_FRAME = 160


@dataclass
class RtpStats:
    packets_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0
    packets_lost: int = 0
    duplicates: int = 0
    malformed: int = 0
    rtcp: int = 0
    unexpected_pt: int = 0


class _Rtcp(asyncio.DatagramProtocol):
    """RTCP on port+1: counted, not interpreted (we do not need its reports)."""

    def __init__(self, stats: RtpStats) -> None:
        self.stats = stats

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.rtcp += 1


class RtpSession(asyncio.DatagramProtocol):
    def __init__(self, host: str, port: int, pool: RtpPortPool | None) -> None:
        self.host, self.local_port, self._pool = host, port, pool
        self.stats = RtpStats()
        self.payload_type = 0
        self.dtmf_pt: int | None = None
        self.remote: Address | None = None
        self.on_audio: AudioCallback | None = None
        self.on_dtmf: DtmfCallback | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        self._seq = random.randrange(1 << 16)
        self._ts = random.randrange(1 << 32)
        self._ssrc = random.randrange(1, 1 << 32)
        self._marker = True
        self._latched_ssrc: int | None = None
        self._expected_seq: int | None = None
        self._dtmf = DtmfReceiver()
        self._dtmf_sending = False

    @classmethod
    async def open(cls, host: str, pool: RtpPortPool, *, attempts: int = 20) -> RtpSession:
        """Bind the next free pool port (skipping ports the OS refuses) and its RTCP twin."""
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            port = pool.allocate()
            session = cls(host, port, pool)
            try:
                await loop.create_datagram_endpoint(lambda s=session: s,  # type: ignore[misc]
                                                    local_addr=(host, port))
            except OSError:
                continue  # taken by another process: leave it out of the pool
            await session._open_rtcp()
            return session
        raise OSError("could not bind an RTP port")

    async def _open_rtcp(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            self._rtcp, _ = await loop.create_datagram_endpoint(
                lambda: _Rtcp(self.stats), local_addr=(self.host, self.local_port + 1))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp socket error on %s: %s", self.local_port, exc)

    def configure(self, *, payload_type: int, dtmf_pt: int | None,
                  remote: Address | None) -> None:
        """Apply a negotiation (initial answer or a re-INVITE that moved the media)."""
        self.payload_type, self.dtmf_pt = payload_type, dtmf_pt
        if remote is not None and remote[0] != "0.0.0.0":
            self.remote = remote

    # -- receive ---------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        header = read_header(data)
        if header is None:
            if is_rtcp(data):
                self.stats.rtcp += 1
            else:
                self.stats.malformed += 1
            return
        pt, seq, ts, ssrc, _marker, offset = header
        if pt == self.payload_type:
            self._count(seq, len(data))
            self._latch(ssrc, addr)
            if self.on_audio is not None:
                self.on_audio(data[offset:], ts, seq)
        elif pt == self.dtmf_pt and self.dtmf_pt is not None:
            self._count(seq, len(data))
            self._on_dtmf_packet(ts, data[offset:])
        else:
            self.stats.unexpected_pt += 1

    def _count(self, seq: int, size: int) -> None:
        stats = self.stats
        stats.packets_received += 1
        stats.bytes_received += size
        expected = self._expected_seq
        if expected is not None:
            gap = (seq - expected) & 0xFFFF
            if gap >= 0x8000:  # behind us: a duplicate or a late packet
                stats.duplicates += 1
                return
            stats.packets_lost += gap
        self._expected_seq = (seq + 1) & 0xFFFF

    def _latch(self, ssrc: int, addr: tuple[str, int]) -> None:
        if ssrc != self._latched_ssrc:
            self._latched_ssrc = ssrc
            self.remote = (addr[0], addr[1])

    def _on_dtmf_packet(self, timestamp: int, payload: bytes) -> None:
        try:
            digits = self._dtmf.feed(timestamp, payload)
        except ValueError:
            self.stats.malformed += 1
            return
        if self.on_dtmf is not None:
            for digit, duration in digits:
                self.on_dtmf(digit, duration)

    # -- send ------------------------------------------------------------------------------
    def send_frame(self, payload: bytes) -> None:
        """One 20 ms frame of audio; the clock advances even while a digit is sent."""
        self._ts = (self._ts + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        if self._dtmf_sending:
            return
        self._send(self.payload_type, self._ts, payload, self._marker)
        self._marker = False

    def _send(self, pt: int, ts: int, payload: bytes, marker: bool) -> None:
        if self.remote is None or self._transport is None or self._transport.is_closing():
            return
        self._seq = (self._seq + 1) & 0xFFFF
        header = HEADER.pack(0x80, pt | (0x80 if marker else 0), self._seq, ts, self._ssrc)
        self._transport.sendto(header + payload, self.remote)
        self.stats.packets_sent += 1

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        """RFC 4733 §2.5.1: one timestamp for the press, paced every 20 ms."""
        if self.dtmf_pt is None:
            raise ValueError("the peer did not negotiate telephone-event")
        self._dtmf_sending = True
        start = (self._ts + SAMPLES_PER_FRAME) & 0xFFFFFFFF
        try:
            for payload, marker in dtmf_train(digit, duration_ms):
                self._send(self.dtmf_pt, start, payload, marker)
                await asyncio.sleep(0.02)
        finally:
            self._dtmf_sending = False
            self._marker = True  # a new talkspurt follows

    def close(self) -> None:
        for transport in (self._transport, self._rtcp):
            if transport is not None:
                transport.close()
        self._transport = self._rtcp = None
        if self._pool is not None:
            self._pool.release(self.local_port)
            self._pool = None
