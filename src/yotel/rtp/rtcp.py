"""RTCP (RFC 3550 §6): parse and build compound packets, and the report interval. No I/O.

Reports feed call-quality figures (loss, jitter, round-trip time), not congestion control: the
media path sends 20 ms G.711 whatever the network does.
"""

from __future__ import annotations

import random
import struct
import time
from dataclasses import dataclass

COMMON = struct.Struct("!BBH")  # V/P/count, packet type, length in 32-bit words minus one
SENDER_INFO = struct.Struct("!QIII")  # NTP timestamp, RTP timestamp, packet count, octet count
REPORT_BLOCK = struct.Struct("!IB3sIIII")  # RFC 3550 §6.4.1 report block, 24 bytes
SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
NAMES = {SR: "SR", RR: "RR", SDES: "SDES", BYE: "BYE", APP: "APP", 205: "RTPFB", 206: "PSFB"}


class RtcpError(ValueError):
    """Not a valid RTCP (compound) packet."""


def is_rtcp(data: bytes) -> bool:
    """RTCP multiplexed on the RTP port (RFC 5761 §4): version 2 and a second byte in 192-223.

    That range is where RTCP packet types live; RTP payload types 64-95 (which would collide
    with a marker bit set) are not used for that reason (RFC 5761 §4).
    """
    return len(data) >= 8 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


@dataclass(frozen=True)
class SenderInfo:
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int


@dataclass(frozen=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # of 256
    cumulative_lost: int  # signed 24-bit
    highest_sequence: int
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    def __bytes__(self) -> bytes:
        # §6.4.1: cumulative loss is a signed 24-bit count, clamped rather than wrapped.
        lost = max(-(1 << 23), min((1 << 23) - 1, self.cumulative_lost))
        return REPORT_BLOCK.pack(self.ssrc, self.fraction_lost,
                                 lost.to_bytes(3, "big", signed=True), self.highest_sequence,
                                 self.jitter, self.last_sr, self.delay_since_last_sr)


@dataclass(frozen=True)
class RtcpPacket:
    """One packet of a compound: its type, the 5-bit count, and the body after the header."""

    packet_type: int
    count: int
    body: bytes

    @property
    def name(self) -> str:
        return NAMES.get(self.packet_type, str(self.packet_type))

    @property
    def ssrc(self) -> int | None:
        """The sender's SSRC (SR, RR, APP), the first source (SDES, BYE), None when absent."""
        return struct.unpack_from("!I", self.body)[0] if len(self.body) >= 4 else None

    def sender_info(self) -> SenderInfo:
        if self.packet_type != SR or len(self.body) < 4 + SENDER_INFO.size:
            raise RtcpError("not a sender report")
        return SenderInfo(*SENDER_INFO.unpack_from(self.body, 4))

    def report_blocks(self) -> list[ReportBlock]:
        """The reception report blocks of an SR or RR (RFC 3550 §6.4.1, §6.4.2)."""
        if self.packet_type not in (SR, RR):
            return []
        start = 4 + (SENDER_INFO.size if self.packet_type == SR else 0)
        if len(self.body) < start + REPORT_BLOCK.size * self.count:
            raise RtcpError("truncated report blocks")
        return [_report_block(self.body, start + i * REPORT_BLOCK.size) for i in range(self.count)]

    def __bytes__(self) -> bytes:
        if len(self.body) % 4:
            raise ValueError("an RTCP body is a whole number of 32-bit words")
        return COMMON.pack(0x80 | self.count, self.packet_type, len(self.body) // 4) + self.body


def _report_block(data: bytes, offset: int) -> ReportBlock:
    ssrc, fraction, lost, highest, jitter, lsr, dlsr = REPORT_BLOCK.unpack_from(data, offset)
    cumulative = int.from_bytes(lost, "big", signed=True)
    return ReportBlock(ssrc, fraction, cumulative, highest, jitter, lsr, dlsr)


def parse_compound(data: bytes, *, reduced_size: bool = False) -> list[RtcpPacket]:
    """Split a compound RTCP packet (RFC 3550 §6.1); raise RtcpError on anything malformed.

    §6.4.1: the first packet of a compound is an SR or RR; padding may only be on the last.
    `reduced_size` reads what RFC 5506 §3.1 allows as well: any well-formed packets in any
    order (baresip, for one, sends a lone APP "PING" and a compound opening with BYE).
    """
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtcpError("truncated RTCP header")
        first, packet_type, words = COMMON.unpack_from(data, offset)
        end = offset + 4 + 4 * words
        if first >> 6 != 2 or not 192 <= packet_type <= 223 or end > len(data):
            raise RtcpError("not an RTCP packet")
        body = data[offset + 4:end]
        if first & 0x20:
            if end != len(data) or not body or not 0 < body[-1] <= len(body):
                raise RtcpError("bad RTCP padding")
            body = body[:-body[-1]]
        packets.append(RtcpPacket(packet_type, first & 0x1F, bytes(body)))
        offset = end
    if not packets or (not reduced_size and packets[0].packet_type not in (SR, RR)):
        raise RtcpError("a compound RTCP packet starts with SR or RR")
    return packets


# -- building (RFC 3550 §6.4, §6.5, §6.6) ---------------------------------------------------------
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ntp_timestamp(unix_time: float | None = None) -> int:
    """The 64-bit NTP timestamp (RFC 3550 §4) of a wallclock time (default: now)."""
    now = time.time() if unix_time is None else unix_time
    return int((now + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR/DLSR unit, 1/65536 s (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def sender_report(ssrc: int, info: SenderInfo, blocks: list[ReportBlock]) -> RtcpPacket:
    body = struct.pack("!I", ssrc) + SENDER_INFO.pack(
        info.ntp_timestamp, info.rtp_timestamp, info.packet_count & 0xFFFFFFFF,
        info.octet_count & 0xFFFFFFFF) + b"".join(bytes(b) for b in blocks[:31])
    return RtcpPacket(SR, min(len(blocks), 31), body)


def receiver_report(ssrc: int, blocks: list[ReportBlock]) -> RtcpPacket:
    body = struct.pack("!I", ssrc) + b"".join(bytes(b) for b in blocks[:31])
    return RtcpPacket(RR, min(len(blocks), 31), body)


def sdes_cname(ssrc: int, cname: str) -> RtcpPacket:
    """§6.5.1: one chunk, CNAME item (type 1), then END and padding to a 32-bit boundary."""
    text = cname.encode()[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(text)) + text + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return RtcpPacket(SDES, 1, chunk)


def bye(ssrc: int) -> RtcpPacket:
    return RtcpPacket(BYE, 1, struct.pack("!I", ssrc))


def cname_of(packets: list[RtcpPacket]) -> str | None:
    """The first CNAME of a compound's SDES, if any (§6.5.1)."""
    for packet in packets:
        if packet.packet_type == SDES and len(packet.body) >= 6 and packet.body[4] == 1:
            size = packet.body[5]
            return packet.body[6:6 + size].decode("utf-8", "replace")
    return None


# -- the report interval (RFC 3550 §6.3.1, appendix A.7) ------------------------------------------
MIN_INTERVAL_S = 5.0  # §6.2 Tmin
_COMPENSATION = 2.71828 - 1.5  # §6.3.1: e - 3/2, for the timer reconsideration's bias


def report_interval(*, members: int, senders: int, rtcp_bandwidth: float, we_sent: bool,
                    avg_rtcp_size: float, initial: bool, min_interval: float = MIN_INTERVAL_S,
                    rng: random.Random | None = None) -> float:
    """Seconds to the next report. `rtcp_bandwidth` in octets/s (5% of the session's, §6.2).

    Senders share a quarter of the bandwidth when they are at most a quarter of the members;
    the deterministic interval is at least Tmin (halved for the first report), then randomised
    over [0.5, 1.5] and divided by e - 3/2 (§6.3.1)."""
    tmin = min_interval / 2 if initial else min_interval
    n, bandwidth = members, rtcp_bandwidth
    if 0 < senders <= members * 0.25:
        if we_sent:
            bandwidth, n = bandwidth * 0.25, senders
        else:
            bandwidth, n = bandwidth * 0.75, members - senders
    deterministic = max(tmin, avg_rtcp_size * n / bandwidth if bandwidth > 0 else tmin)
    return deterministic * (rng or random).uniform(0.5, 1.5) / _COMPENSATION
