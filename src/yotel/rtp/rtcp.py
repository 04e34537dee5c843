"""RTCP (RFC 3550 §6), recognised so it is counted and ignored, never played as audio. No I/O.

We do not act on reports (the media path has no congestion control to feed); we parse a compound
packet far enough to validate it and to tell sender reports from receiver reports.
"""

from __future__ import annotations

import struct
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


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split a compound RTCP packet (RFC 3550 §6.1); raise RtcpError on anything malformed.

    §6.4.1: the first packet of a compound is an SR or RR; padding may only be on the last.
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
    if not packets or packets[0].packet_type not in (SR, RR):
        raise RtcpError("a compound RTCP packet starts with SR or RR")
    return packets
