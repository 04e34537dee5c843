"""RTCP reports, pure: building and parsing SR/RR/SDES/BYE, the report interval (RFC 3550
§6.3.1), receive statistics for report blocks (A.3, A.8) and the round trip (§6.4.1)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.rtp import quality
from yotel.rtp.quality import PeerReports, Reception, RtcpReporter
from yotel.rtp.rtcp import (
    BYE,
    RR,
    SDES,
    SR,
    ReportBlock,
    RtcpError,
    SenderInfo,
    bye,
    cname_of,
    middle32,
    ntp_timestamp,
    parse_compound,
    receiver_report,
    report_interval,
    sdes_cname,
    sender_report,
)
from yotel.rtp.stats import RtpStats, SequenceTracker

blocks = st.builds(ReportBlock, st.integers(0, 2**32 - 1), st.integers(0, 255),
                   st.integers(-(1 << 23), (1 << 23) - 1), st.integers(0, 2**32 - 1),
                   st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                   st.integers(0, 2**32 - 1))


@given(st.integers(1, 2**32 - 1), st.lists(blocks, max_size=3), st.booleans(),
       st.text(min_size=1, max_size=40))
def test_reports_round_trip(ssrc: int, report_blocks: list[ReportBlock], sender: bool,
                            cname: str) -> None:
    info = SenderInfo(ntp_timestamp(1_700_000_000.25), 1234, 50, 8000)
    first = (sender_report(ssrc, info, report_blocks) if sender
             else receiver_report(ssrc, report_blocks))
    wire = b"".join(bytes(p) for p in (first, sdes_cname(ssrc, cname), bye(ssrc)))
    packets = parse_compound(wire)
    assert [p.packet_type for p in packets] == [SR if sender else RR, SDES, BYE]
    assert packets[0].ssrc == ssrc and packets[0].report_blocks() == report_blocks
    if sender:
        assert packets[0].sender_info() == info
    assert cname_of(packets) == cname.encode()[:255].decode("utf-8", "replace")


def test_cumulative_loss_is_clamped_to_24_bits() -> None:
    block = ReportBlock(1, 0, -(1 << 30), 0, 0, 0, 0)
    [parsed] = parse_compound(bytes(receiver_report(2, [block])))[0].report_blocks()
    assert parsed.cumulative_lost == -(1 << 23)


def test_ntp_timestamp_and_its_middle_bits() -> None:
    ntp = ntp_timestamp(0.5)  # 1970-01-01 00:00:00.5 is 2208988800.5 s after the NTP epoch
    assert ntp >> 32 == 2208988800 and ntp & 0xFFFFFFFF == 1 << 31
    assert middle32(ntp) == ((2208988800 & 0xFFFF) << 16) | 0x8000


def test_interval_is_randomised_around_tmin_and_halved_at_first() -> None:
    rng = random.Random(7)
    compensation = 2.71828 - 1.5
    regular = [report_interval(members=2, senders=2, rtcp_bandwidth=500, we_sent=True,
                               avg_rtcp_size=100, initial=False, rng=rng) for _ in range(500)]
    first = [report_interval(members=2, senders=2, rtcp_bandwidth=500, we_sent=True,
                             avg_rtcp_size=100, initial=True, rng=rng) for _ in range(500)]
    assert 5 * 0.5 / compensation <= min(regular) < 5 * 0.6 / compensation
    assert 5 * 1.4 / compensation < max(regular) <= 5 * 1.5 / compensation
    assert max(first) <= 2.5 * 1.5 / compensation
    # A big group on a thin link: the computed interval exceeds Tmin (§6.3.1).
    crowd = report_interval(members=1000, senders=2, rtcp_bandwidth=500, we_sent=False,
                            avg_rtcp_size=100, initial=False, rng=rng)
    assert crowd > 100


def test_report_block_counts_loss_per_interval_and_the_wrap() -> None:
    stats = RtpStats()
    tracker = SequenceTracker(stats)
    reception = Reception()
    for seq in [65530, 65531, 65533, 65534, 65535]:  # 65532 lost
        tracker.update(seq)
    first = reception.block(tracker, 99, ntp_timestamp())
    assert (first.cumulative_lost, first.fraction_lost) == (1, 256 // 6)
    assert first.highest_sequence == 65535
    for seq in [0, 1, 2, 3, 6, 7]:  # wrapped; 4 and 5 lost
        tracker.update(seq)
    second = reception.block(tracker, 99, ntp_timestamp())
    assert second.highest_sequence == 65536 + 7  # the extended number counts the cycle
    assert (second.cumulative_lost, second.fraction_lost) == (3, (2 << 8) // 8)
    tracker.update(4)  # late: no longer lost; the interval saw more than it expected
    third = reception.block(tracker, 99, ntp_timestamp())
    assert (third.cumulative_lost, third.fraction_lost) == (2, 0)


def test_jitter_follows_a8(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(quality, "_monotonic", lambda: clock[0])
    steady = Reception()
    for n in range(50):  # arrivals exactly 20 ms apart: no jitter
        clock[0] = 100.0 + n * 0.02
        steady.arrived(n * 160)
    assert steady.jitter16 == 0
    shaky = Reception()
    for n in range(400):  # every other packet 10 ms late: |D| = 80 samples each time
        clock[0] = 200.0 + n * 0.02 + (0.01 if n % 2 else 0.0)
        shaky.arrived((n * 160 + 0xFFFFF000) & 0xFFFFFFFF)  # and the timestamp wraps
    assert 78 <= shaky.jitter16 >> 4 <= 80


def test_round_trip_from_the_peers_block_about_our_sr() -> None:
    """§6.4.1: RTT = A - LSR - DLSR, in 1/65536 s."""
    our_ssrc = 0x1234
    sent_at = ntp_timestamp(1000.0)
    now = ntp_timestamp(1000.5)  # the RR arrives 500 ms after our SR; the peer held it 300
    block = ReportBlock(our_ssrc, 64, 7, 500, 160, middle32(sent_at), int(0.3 * 65536))
    peer, reception = PeerReports(), Reception()
    peer.take(parse_compound(bytes(receiver_report(0x99, [block]))), our_ssrc, now, reception)
    assert peer.rtt_ms == pytest.approx(200, abs=0.1)
    assert (peer.fraction_lost, peer.packets_lost, peer.jitter_ms) == (0.25, 7, 20.0)


def test_peer_sr_time_is_echoed_in_our_next_block() -> None:
    reporter = RtcpReporter(0x42)
    stats = RtpStats()
    tracker = SequenceTracker(stats)
    peer_sr = sender_report(0x99, SenderInfo(ntp_timestamp(50.0), 0, 10, 1600), [])
    arrival = ntp_timestamp(60.0)
    reporter.peer.take(parse_compound(bytes(peer_sr)), 0x42, arrival, reporter.reception)
    tracker.update(10)
    stats.packets_received = 1
    wire = reporter.compound(stats, tracker, 0x99, 0, ntp_timestamp(60.25))
    first = parse_compound(wire)[0]
    assert first.packet_type == RR  # we sent no RTP since the last report
    [block] = first.report_blocks()
    assert block.last_sr == middle32(ntp_timestamp(50.0))
    assert block.delay_since_last_sr == pytest.approx(0.25 * 65536, abs=2)
    stats.packets_sent, stats.bytes_sent = 5, 5 * 172
    sr = parse_compound(reporter.compound(stats, tracker, 0x99, 800, ntp_timestamp(61.0),
                                          final=True))
    assert [p.packet_type for p in sr] == [SR, SDES, BYE]
    assert sr[0].sender_info().octet_count == 5 * 160  # payload octets only (§6.4.1)
    assert sr[0].report_blocks() == []  # nothing received since the last report


# Captured from baresip 1.0 (libre): a lone APP "PING"/"PONG" keepalive at stream start, and
# its goodbye: BYE (reason "Adjo") first, then SDES CNAME.
BARESIP_APP = bytes.fromhex("80cc0003cdcf911a50494e47504f4e47")
BARESIP_BYE = bytes.fromhex("81cb0003cdcf911a0441646a6f00000081ca0007cdcf911a0115736970"
                            "3a62617265736970403132372e302e302e3100")


def test_baresips_non_compound_packets_are_read_in_reduced_size_mode() -> None:
    """RFC 3550 §6.1 wants SR/RR first; RFC 5506 §3.1 reads any well-formed packets."""
    for data in (BARESIP_APP, BARESIP_BYE):
        with pytest.raises(RtcpError):
            parse_compound(data)
    [app] = parse_compound(BARESIP_APP, reduced_size=True)
    assert app.name == "APP" and app.body[4:8] == b"PING"
    packets = parse_compound(BARESIP_BYE, reduced_size=True)
    assert [p.packet_type for p in packets] == [BYE, SDES]
    assert cname_of(packets) == "sip:baresip@127.0.0.1"
    peer = PeerReports()
    peer.take(packets, 1, ntp_timestamp(), Reception())
    assert peer.said_bye and peer.rtt_ms is None
