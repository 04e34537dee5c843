"""Call quality from RTCP (RFC 3550 §6.4): our reception figures for the peer's stream, and what
the peer's reports say about ours. No I/O: the session feeds it packets and times.

`Reception.arrived` is on the receive hot path: one clock read and a few integer operations for
the interarrival jitter (RFC 3550 §6.4.1, appendix A.8), no allocation.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from yotel.rtp.rtcp import (
    BYE,
    SR,
    ReportBlock,
    RtcpPacket,
    SenderInfo,
    middle32,
    receiver_report,
    sdes_cname,
    sender_report,
)
from yotel.rtp.rtcp import bye as bye_packet
from yotel.rtp.stats import RtpStats, SequenceTracker

CLOCK_RATE = 8000  # G.711 and RFC 4733 events at 8 kHz (RFC 3551 §4.5.14)
HEADER_SIZE = 12  # we send plain headers: payload octets = bytes sent - 12 per packet
_monotonic = time.monotonic


@dataclass(frozen=True)
class CallQuality:
    """One leg's figures. Ours: what we received from the peer. `peer_*` and `rtt_ms`: from the
    peer's last report about our stream (None until one arrived)."""

    packets_received: int
    packets_lost: int  # RFC 3550 A.3: expected - received, for the current stream
    fraction_lost: float  # 0..1, over the last report interval
    jitter_ms: float
    packets_sent: int
    rtt_ms: float | None  # §6.4.1: A - LSR - DLSR, from the peer's report of our SR
    peer_fraction_lost: float | None
    peer_packets_lost: int | None
    peer_jitter_ms: float | None
    reports_sent: int
    reports_received: int


class Reception:
    """Receive-side state of the peer's stream for our report blocks (RFC 3550 A.3, A.8)."""

    __slots__ = ("_expected_prior", "_received_prior", "_transit", "fraction", "jitter16",
                 "lsr", "lsr_arrival")

    def __init__(self) -> None:
        self.reset()
        self.lsr = self.lsr_arrival = 0  # the peer's last SR: middle 32 bits, and when (ours)

    def reset(self) -> None:
        """A new stream (SSRC change): jitter and the interval counts start again."""
        self._transit = -1
        self.jitter16 = 0  # A.8: jitter in timestamp units, scaled by 16
        self._expected_prior = self._received_prior = 0
        self.fraction = 0

    def arrived(self, rtp_timestamp: int) -> None:
        """An audio packet arrived now (A.8: D = change in transit time, J += (|D| - J)/16)."""
        transit = (int(_monotonic() * CLOCK_RATE) - rtp_timestamp) & 0xFFFFFFFF
        last, self._transit = self._transit, transit
        if last >= 0:
            d = (transit - last) & 0xFFFFFFFF
            if d & 0x80000000:
                d = 0x100000000 - d
            self.jitter16 += d - ((self.jitter16 + 8) >> 4)

    def block(self, tracker: SequenceTracker, ssrc: int, now_ntp: int) -> ReportBlock:
        """Our report block about the peer's stream; starts a new interval (A.3)."""
        highest = tracker.extended_highest
        expected = highest - tracker.base + 1
        interval_expected = expected - self._expected_prior
        interval_lost = interval_expected - (tracker.received - self._received_prior)
        self._expected_prior, self._received_prior = expected, tracker.received
        self.fraction = (interval_lost << 8) // interval_expected if (
            interval_expected > 0 and interval_lost > 0) else 0
        dlsr = (middle32(now_ntp) - self.lsr_arrival) & 0xFFFFFFFF if self.lsr else 0
        return ReportBlock(ssrc, min(self.fraction, 255), expected - tracker.received,
                           highest & 0xFFFFFFFF, self.jitter16 >> 4, self.lsr, dlsr)


class PeerReports:
    """What the peer's RTCP says about our stream (RFC 3550 §6.4.1)."""

    __slots__ = ("fraction_lost", "jitter_ms", "packets_lost", "received", "rtt_ms", "said_bye")

    def __init__(self) -> None:
        self.fraction_lost: float | None = None
        self.packets_lost: int | None = None
        self.jitter_ms: float | None = None
        self.rtt_ms: float | None = None
        self.received = 0
        self.said_bye = False

    def take(self, packets: list[RtcpPacket], our_ssrc: int, now_ntp: int,
             reception: Reception) -> None:
        """A compound from the peer: its SR's time for our LSR, its block about us."""
        self.received += 1
        for packet in packets:
            if packet.packet_type == SR:
                reception.lsr = middle32(packet.sender_info().ntp_timestamp)
                reception.lsr_arrival = middle32(now_ntp)
            elif packet.packet_type == BYE:
                self.said_bye = True
            for block in packet.report_blocks():
                if block.ssrc == our_ssrc:
                    self._about_us(block, now_ntp)

    def _about_us(self, block: ReportBlock, now_ntp: int) -> None:
        self.fraction_lost = block.fraction_lost / 256
        self.packets_lost = block.cumulative_lost
        self.jitter_ms = block.jitter * 1000 / CLOCK_RATE
        if block.last_sr:  # 0: the peer has had no SR of ours yet
            rtt = (middle32(now_ntp) - block.last_sr - block.delay_since_last_sr) & 0xFFFFFFFF
            if rtt < 0x80000000:  # a negative round trip is a clock step: skip it
                self.rtt_ms = rtt * 1000 / 65536


class RtcpReporter:
    """Builds our compound reports (SR when we sent RTP since the last one, else RR; §6.4) and
    keeps the figures for `CallQuality`."""

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.cname = secrets.token_urlsafe(12)  # RFC 7022: a random per-session CNAME
        self.reception = Reception()
        self.peer = PeerReports()
        self.sent = 0
        self._packets_sent_prior = 0
        self._received_prior = 0

    def sending(self, stats: RtpStats) -> bool:
        """§6.4: we are a sender when we sent RTP since our last report."""
        return stats.packets_sent > self._packets_sent_prior

    def compound(self, stats: RtpStats, tracker: SequenceTracker, peer_ssrc: int,
                 rtp_timestamp: int, now_ntp: int, *, final: bool = False) -> bytes:
        """Our next compound: SR or RR (with a block when the peer sent since the last one),
        SDES CNAME (§6.1: in every compound), and BYE when `final` (§6.6)."""
        blocks = []
        if peer_ssrc >= 0 and stats.packets_received > self._received_prior:
            blocks.append(self.reception.block(tracker, peer_ssrc, now_ntp))
        if self.sending(stats):
            octets = stats.bytes_sent - HEADER_SIZE * stats.packets_sent
            info = SenderInfo(now_ntp, rtp_timestamp, stats.packets_sent, octets)
            first = sender_report(self.ssrc, info, blocks)
        else:
            first = receiver_report(self.ssrc, blocks)
        self._packets_sent_prior, self._received_prior = stats.packets_sent, stats.packets_received
        packets = [first, sdes_cname(self.ssrc, self.cname)]
        if final:
            packets.append(bye_packet(self.ssrc))
        self.sent += 1
        return b"".join(bytes(p) for p in packets)

    def quality(self, stats: RtpStats, tracker: SequenceTracker) -> CallQuality:
        highest = tracker.extended_highest
        lost = max(0, highest - tracker.base + 1 - tracker.received) if highest >= 0 else 0
        peer = self.peer
        return CallQuality(
            packets_received=stats.packets_received, packets_lost=lost,
            fraction_lost=self.reception.fraction / 256,
            jitter_ms=self.reception.jitter16 / 16 * 1000 / CLOCK_RATE,
            packets_sent=stats.packets_sent, rtt_ms=peer.rtt_ms,
            peer_fraction_lost=peer.fraction_lost, peer_packets_lost=peer.packets_lost,
            peer_jitter_ms=peer.jitter_ms, reports_sent=self.sent, reports_received=peer.received)
