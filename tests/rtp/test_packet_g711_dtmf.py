from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.rtp import g711
from yotel.rtp.dtmf import DtmfEvent, DtmfReceiver, dtmf_train
from yotel.rtp.packet import RtpError, RtpPacket, read_header
from yotel.rtp.rtcp import is_rtcp

# A PCMU packet as sent by a phone: V=2, M=1, PT=0, seq 0x1234, ts 0x00000A00, SSRC 0xDEADBEEF.
CAPTURED = bytes.fromhex("8080123400000a00deadbeef") + b"\xff" * 160


def test_parse_captured_and_round_trip() -> None:
    p = RtpPacket.parse(CAPTURED)
    assert (p.payload_type, p.sequence, p.timestamp, p.ssrc, p.marker) == (0, 0x1234, 0xA00,
                                                                          0xDEADBEEF, True)
    assert p.payload == b"\xff" * 160
    assert bytes(p) == CAPTURED
    assert read_header(CAPTURED) == (0, 0x1234, 0xA00, 0xDEADBEEF, True, 12, 172)


def test_csrc_extension_and_padding() -> None:
    p = RtpPacket(8, 1, 2, 3, b"abc", csrc=(7, 9), extension=(0xBEDE, b"\x01\x02\x03\x04"))
    wire = bytes(p)
    assert RtpPacket.parse(wire) == p
    assert read_header(wire) == (8, 1, 2, 3, False, 12 + 8 + 8, len(wire))
    padded = bytearray(bytes(RtpPacket(0, 1, 2, 3, b"xy")) + b"\0\0\x03")
    padded[0] |= 0x20
    assert RtpPacket.parse(bytes(padded)).payload == b"xy"
    assert read_header(bytes(padded)) == (0, 1, 2, 3, False, 12, 14)  # RFC 3550 §5.1 P bit


@pytest.mark.parametrize("data", [
    bytes.fromhex("a000000100000002") + b"\0\0\0\3" + b"\0",  # pad count 0
    bytes.fromhex("a000000100000002") + b"\0\0\0\3" + b"ab\x09",  # more padding than data
    bytes.fromhex("a100000100000002") + b"\0\0\0\3" + b"\0\0\x02",  # pads into the CSRC
])
def test_bad_padding_is_refused_by_both_readers(data: bytes) -> None:
    assert read_header(data) is None
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


@pytest.mark.parametrize("data", [b"", b"\x80" * 11, b"\x40" + b"\0" * 15,
                                  bytes.fromhex("8f00") + b"\0" * 10])
def test_garbage_is_rejected(data: bytes) -> None:
    with pytest.raises(RtpError):
        RtpPacket.parse(data)


def test_rtcp_is_recognised() -> None:
    sender_report = bytes.fromhex("80c80006") + b"\0" * 24
    assert is_rtcp(sender_report) and read_header(sender_report) is None


@given(st.binary(max_size=300))
def test_parser_only_raises_rtp_error(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass
    read_header(data)


@given(st.builds(RtpPacket, st.integers(0, 63), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                 st.integers(0, 2**32 - 1), st.binary(max_size=40), st.booleans(),
                 st.lists(st.integers(0, 2**32 - 1), max_size=3).map(tuple),
                 st.none() | st.tuples(st.integers(0, 0xFFFF),
                                       st.binary(max_size=3).map(lambda b: b * 4)),
                 st.integers(0, 40)))
def test_hot_path_reader_agrees_with_the_full_parser(packet: RtpPacket) -> None:
    wire = bytes(packet)
    header = read_header(wire)
    assert header is not None
    assert header[:5] == (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc,
                          packet.marker)
    assert wire[header[5]:header[6]] == packet.payload


def test_g711_matches_the_itu_reference_bit_for_bit() -> None:
    # Digests of the CCITT reference tables (as produced by CPython's audioop).
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()
    assert hashlib.sha256(g711.encode(every_sample, "pcmu")).hexdigest() == (
        "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a")
    assert hashlib.sha256(g711.encode(every_sample, "pcma")).hexdigest() == (
        "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b")
    assert hashlib.sha256(g711.decode(bytes(range(256)), "pcmu")).hexdigest() == (
        "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827")
    assert hashlib.sha256(g711.decode(bytes(range(256)), "pcma")).hexdigest() == (
        "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174")


def test_silence_and_transcoding() -> None:
    assert g711.decode(g711.silence("pcmu"), "pcmu") == b"\0\0" * 160
    assert g711.decode(g711.silence("pcma"), "pcma") == np.full(160, 8, "<i2").tobytes()
    tone = (np.sin(np.arange(160) / 8) * 8000).astype("<i2").tobytes()
    ulaw = g711.encode(tone, "pcmu")
    alaw = g711.transcode(ulaw, "pcmu", "pcma")
    diff = np.abs(np.frombuffer(g711.decode(alaw, "pcma"), "<i2").astype(int)
                  - np.frombuffer(tone, "<i2"))
    assert diff.max() < 600  # two quantisations of an 8000-amplitude tone
    assert g711.transcode(ulaw, "pcmu", "pcmu") is ulaw


def test_rfc4733_event_round_trip() -> None:
    # RFC 4733 figure: digit 5, end bit, volume 10, duration 1600.
    wire = bytes.fromhex("058a0640")
    event = DtmfEvent.parse(wire)
    assert (event.digit, event.end, event.volume, event.duration) == ("5", True, 10, 1600)
    assert bytes(event) == wire


def test_train_and_receiver_report_each_press_once() -> None:
    train = dtmf_train("7", 200)
    assert train[0][1] is True and all(not m for _, m in train[1:])
    assert len(train) == 9 + 3  # 9 updates then 3 redundant end packets
    receiver = DtmfReceiver()
    digits = [d for payload, _ in train for d in receiver.feed(1000, payload)]
    assert digits == [("7", 200)]
    # a press whose end packets were all lost is reported when the next begins
    start = dtmf_train("1", 100)[0][0]
    assert receiver.feed(5000, start) == []
    assert receiver.feed(9000, dtmf_train("2", 60)[0][0]) == [("1", 20)]


def test_receiver_handles_missing_start_duplicates_and_stragglers() -> None:
    receiver = DtmfReceiver()
    train = dtmf_train("#", 120)
    # the marker packet and the next update are lost; the rest arrive, ends repeated
    digits = [d for payload, _ in train[2:] for d in receiver.feed(800, payload)]
    assert digits == [("#", 120)]
    # a late update of the reported press is not a new press
    assert receiver.feed(800, train[1][0]) == []
    # nor is a straggler from an even older press
    assert receiver.feed(640, train[0][0]) == []


def test_receiver_times_out_a_press_whose_end_was_lost() -> None:
    receiver = DtmfReceiver(end_timeout_s=0.3)
    for i, (payload, _) in enumerate(dtmf_train("4", 200)[:5]):
        assert receiver.feed(3200, payload, now=10.0 + i * 0.02) == []
    assert receiver.pending
    assert receiver.poll(10.2) == []
    assert receiver.poll(10.5) == [("4", 100)]
    assert not receiver.pending
    assert receiver.feed(3200, dtmf_train("4", 200)[-1][0], now=10.6) == []


def test_receiver_keeps_the_longest_duration_when_updates_reorder() -> None:
    receiver = DtmfReceiver()
    train = dtmf_train("3", 100)
    receiver.feed(7, train[3][0])
    receiver.feed(7, train[1][0])  # an older, shorter update arrives late
    assert receiver.poll(100.0) == [("3", 80)]


def test_receiver_ignores_non_digit_events_and_wraps_timestamps() -> None:
    receiver = DtmfReceiver()
    flash = bytes(DtmfEvent(16, True, 10, 800))  # §3.2 event 16 (flash) is not a key
    assert receiver.feed(0xFFFFFF00, flash) == []
    assert receiver.feed(0x00000010, dtmf_train("0", 40)[-1][0]) == [("0", 40)]
    with pytest.raises(ValueError):
        receiver.feed(0x20, b"\x01")


@pytest.mark.parametrize("digit", ["", "12", "E", "x"])
def test_train_refuses_bad_digits(digit: str) -> None:
    with pytest.raises(ValueError):
        dtmf_train(digit, 100)


def test_train_durations_grow_and_end_three_times() -> None:
    events = [DtmfEvent.parse(p) for p, _ in dtmf_train("b", 100)]
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {e.digit for e in events} == {"B"}
    single = dtmf_train("1", 10)
    assert [m for _, m in single] == [True, False, False]


def test_pcm_round_trip_stays_within_quantisation() -> None:
    pcm = np.linspace(-32768, 32767, 4000).astype("<i2")
    for law in ("pcmu", "pcma"):
        back = np.frombuffer(g711.decode(g711.encode(pcm.tobytes(), law), law), "<i2")
        error = np.abs(back.astype(int) - pcm.astype(int))
        assert (error <= np.maximum(np.abs(pcm.astype(int)) // 16, 16) + 1).all(), law
    codes = bytes(range(256))
    assert g711.encode(g711.decode(codes, "pcma"), "pcma") == codes
    # μ-law has two zeros (0x7F is -0, 0xFF is +0); every other code survives the round trip
    expected = codes.replace(b"\x7f", b"\xff")
    assert g711.encode(g711.decode(codes, "pcmu"), "pcmu") == expected


def test_unknown_laws_are_refused_and_arrays_round_trip() -> None:
    for call in (lambda: g711.decode(b"\xff", "g729"), lambda: g711.encode(b"\0\0", "pcm"),
                 lambda: g711.silence("opus"), lambda: g711.transcode(b"", "pcmu", "x"),
                 lambda: g711.transcode(b"", "x", "x")):
        with pytest.raises(ValueError, match=r"G\.711"):
            call()
    samples = g711.decode_array(bytes(range(256)), "pcma")
    assert samples.dtype == np.int16
    assert g711.encode_samples(samples, "pcma") == bytes(range(256))
    assert g711.silence("pcmu", 80) == b"\xff" * 80 and g711.silence("pcma") == b"\xd5" * 160


# Captured by sipp's authors: Debian sip-tester's /usr/share/sip-tester/dtmf_2833_1.pcap and
# dtmf_2833_pound.pcap, the UDP payloads (RFC 2833/4733, PT 101). Note the three end packets
# repeat the same sequence number, and the first update has duration 0.
SIPP_DIGIT_1 = [bytes.fromhex(h) for h in (
    "80e51f30000033e00e05384e010a0000", "80651f31000033e00e05384e010a0140",
    "80651f32000033e00e05384e010a0280", "80651f33000033e00e05384e010a03c0",
    "80651f34000033e00e05384e010a0500", "80651f35000033e00e05384e010a0640",
    "80651f36000033e00e05384e010a0780", "80651f37000033e00e05384e018a08c0",
    "80651f37000033e00e05384e018a08c0", "80651f37000033e00e05384e018a08c0")]
SIPP_POUND_END = bytes.fromhex("806520fb000169e00e05384e0b8a08c0")
# The first packet of sip-tester's g711a.pcap: PCMA, marker, 30 ms of A-law silence.
SIPP_PCMA = bytes.fromhex("8088e6fd000000f0dee0ee8f") + b"\xd5" * 240


def test_captured_sipp_packets_round_trip() -> None:
    for wire in [*SIPP_DIGIT_1, SIPP_POUND_END, SIPP_PCMA]:
        assert bytes(RtpPacket.parse(wire)) == wire
    first = RtpPacket.parse(SIPP_DIGIT_1[0])
    assert (first.payload_type, first.marker, first.sequence, first.timestamp) == (
        101, True, 0x1F30, 0x33E0)
    pcma = RtpPacket.parse(SIPP_PCMA)
    assert (pcma.payload_type, pcma.marker, len(pcma.payload)) == (8, True, 240)
    assert read_header(SIPP_PCMA) == (8, 0xE6FD, 0xF0, 0xDEE0EE8F, True, 12, len(SIPP_PCMA))


def test_captured_sipp_digits_are_reported_once() -> None:
    receiver = DtmfReceiver()
    reported = [d for wire in SIPP_DIGIT_1
                for d in receiver.feed(RtpPacket.parse(wire).timestamp,
                                       RtpPacket.parse(wire).payload)]
    assert reported == [("1", 280)]
    pound = RtpPacket.parse(SIPP_POUND_END)  # only an end packet survived: still reported
    assert receiver.feed(pound.timestamp, pound.payload) == [("#", 280)]


def test_padding_round_trips_exactly_and_bad_fields_refuse_to_serialise() -> None:
    padded = RtpPacket(0, 9, 8, 7, b"abc", padding=5)
    wire = bytes(padded)
    assert wire[0] & 0x20 and wire[-1] == 5 and RtpPacket.parse(wire) == padded
    assert read_header(wire) == (0, 9, 8, 7, False, 12, 15)  # the hot path reads it too
    for bad in (RtpPacket(128, 0, 0, 0, b""), RtpPacket(0, 1 << 16, 0, 0, b""),
                RtpPacket(0, 0, 0, 0, b"", extension=(1, b"abc")),
                RtpPacket(0, 0, 0, 0, b"", csrc=tuple(range(16)))):
        with pytest.raises(ValueError):
            bytes(bad)


@given(st.builds(
    RtpPacket, st.integers(0, 127), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF), st.binary(max_size=200), st.booleans(),
    st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    st.none() | st.tuples(st.integers(0, 0xFFFF),
                          st.binary(max_size=16).map(lambda b: b[:len(b) - len(b) % 4])),
    st.integers(0, 255)))
def test_any_packet_round_trips(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet
    header = read_header(bytes(packet))
    rtcp_range = packet.marker and 64 <= packet.payload_type <= 95  # RFC 5761 §4: reads as RTCP
    if not packet.padding and not rtcp_range:
        assert header is not None and header[:5] == (
            packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc, packet.marker)
