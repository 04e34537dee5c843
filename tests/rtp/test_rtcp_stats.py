"""RTCP recognition and parsing; receive-side sequence accounting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.rtp.rtcp import BYE, RR, SR, RtcpError, RtcpPacket, is_rtcp, parse_compound
from yotel.rtp.stats import DUPLICATE, IN_ORDER, LATE, STALE, RtpStats, SequenceTracker

# RFC 3550 §6.4.1 sender report with one report block, then SDES CNAME "a@b" (captured layout).
SENDER_REPORT = bytes.fromhex(
    "81c8000c" "11223344"                      # V=2 RC=1 PT=SR len=12, sender SSRC
    "e7b6c3a500000000" "0000a000" "00000032" "00001f40"   # NTP, RTP ts, packets, octets
    "55667788" "10" "000005" "0001002a" "00000010" "c3a50000" "00000800"  # report block
    "81ca0003" "11223344" "0103" "61406200" "0000"  # SDES chunk: CNAME "a@b", end, pad
)


def test_sender_report_compound_parses() -> None:
    packets = parse_compound(SENDER_REPORT)
    assert [p.name for p in packets] == ["SR", "SDES"]
    sr = packets[0]
    assert sr.ssrc == 0x11223344
    info = sr.sender_info()
    assert (info.rtp_timestamp, info.packet_count, info.octet_count) == (0xA000, 50, 8000)
    [block] = sr.report_blocks()
    assert (block.ssrc, block.fraction_lost, block.cumulative_lost) == (0x55667788, 16, 5)
    assert (block.highest_sequence, block.jitter) == (0x1002A, 16)
    assert b"".join(bytes(p) for p in packets) == SENDER_REPORT
    assert is_rtcp(SENDER_REPORT)


def test_receiver_report_and_bye() -> None:
    rr = RtcpPacket(RR, 0, bytes.fromhex("0000beef"))
    bye = RtcpPacket(BYE, 1, bytes.fromhex("0000beef"))
    packets = parse_compound(bytes(rr) + bytes(bye))
    assert [(p.name, p.ssrc, p.report_blocks()) for p in packets] == [
        ("RR", 0xBEEF, []), ("BYE", 0xBEEF, [])]
    with pytest.raises(RtcpError):
        packets[0].sender_info()


@pytest.mark.parametrize("data", [
    b"", b"\x80\xc9\x00", bytes.fromhex("80c90005") + b"\0" * 4,  # length past the end
    bytes.fromhex("80ca0001") + b"\0" * 4,  # starts with SDES
    bytes.fromhex("40c90001") + b"\0" * 4,  # version 1
    bytes.fromhex("80000001") + b"\0" * 4,  # RTP, not RTCP
    bytes.fromhex("a0c90001") + b"\0\0\0\x09",  # padding longer than the body
    bytes.fromhex("81c80001") + b"\0" * 4,  # SR claims a block it does not carry
])
def test_malformed_rtcp_is_refused(data: bytes) -> None:
    with pytest.raises(RtcpError):
        for packet in parse_compound(data):
            packet.sender_info() if packet.packet_type == SR else packet.report_blocks()
            packet.report_blocks()


@given(st.binary(max_size=120))
def test_rtcp_parser_only_raises_rtcp_error(data: bytes) -> None:
    try:
        parse_compound(data)
    except RtcpError:
        pass


def test_rtp_is_not_mistaken_for_rtcp() -> None:
    assert not is_rtcp(bytes.fromhex("8080123400000a00deadbeef"))  # PCMU with marker
    assert not is_rtcp(bytes.fromhex("80e5123400000a00deadbeef"))  # PT 101 with marker
    assert is_rtcp(bytes.fromhex("80c90001deadbeef"))


def track(seqs: list[int]) -> tuple[list[int], RtpStats]:
    stats = RtpStats()
    tracker = SequenceTracker(stats)
    return [tracker.update(s) for s in seqs], stats


def test_loss_late_and_duplicates() -> None:
    verdicts, stats = track([10, 11, 14, 12, 12, 15, 14])
    assert verdicts == [IN_ORDER, IN_ORDER, IN_ORDER, LATE, DUPLICATE, IN_ORDER, DUPLICATE]
    assert (stats.packets_lost, stats.late, stats.duplicates) == (1, 1, 2)


def test_sequence_wraps_without_loss() -> None:
    verdicts, stats = track([65534, 65535, 0, 1])
    assert verdicts == [IN_ORDER] * 4 and stats.packets_lost == 0


def test_big_jump_is_a_restart_and_two_stale_packets_restart_too() -> None:
    verdicts, stats = track([100, 101, 9000, 9001])
    assert verdicts == [IN_ORDER] * 4
    assert (stats.packets_lost, stats.restarts) == (0, 1)
    verdicts, stats = track([5000, 5001, 100, 101, 102])
    assert verdicts == [IN_ORDER, IN_ORDER, STALE, IN_ORDER, IN_ORDER]
    assert (stats.stale, stats.restarts, stats.packets_lost) == (1, 1, 0)
