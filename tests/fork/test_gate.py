"""The inbound gate and its limits, pure: frames built by hand (RFC 6455 §5.2, unmasked as a
server sends them), fed in any split, read back with websockets' own parser."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from yotel.fork.frames import WarningFrame, parse_yotel_frame
from yotel.fork.gate import BINARY, CONTINUATION, PING, TEXT, FrameGate, frame_header
from yotel.fork.limits import Admission, ForkLimits, TokenBucket


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return frame_header(opcode | (0x80 if fin else 0), len(payload)) + payload


def parse_all(data: bytes) -> list[Frame]:
    """websockets' parser over what the gate let through."""
    reader = StreamReader()
    reader.feed_data(data)
    out: list[Frame] = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
        try:
            while True:
                next(parser)
        except StopIteration as done:
            out.append(done.value)
    return out


def gate(**limits: float) -> FrameGate:
    return FrameGate(Admission(replace(ForkLimits(), **limits), 0.0))  # type: ignore[arg-type]


def run(g: FrameGate, data: bytes, now: float = 0.0, chunk: int = 1 << 30) -> bytes:
    out = b""
    for i in range(0, len(data), chunk):
        g.feed(data[i:i + chunk])
        out += g.pump(now, 1 << 30)
    return out


def test_well_behaved_traffic_passes_byte_for_byte() -> None:
    data = b"".join([frame(BINARY, bytes([k]) * 160) for k in range(50)]
                    + [frame(TEXT, b'{"type": "mark", "name": "a"}'), frame(PING, b"x")])
    assert run(gate(), data) == data


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=64))
def test_any_split_of_the_stream_gives_the_same_frames(chunk: int) -> None:
    data = (frame(BINARY, b"\x01" * 300) + frame(TEXT, b"{}") + frame(BINARY, b"\x02" * 3000)
            + frame(BINARY, b"a", fin=False) + frame(CONTINUATION, b"b"))
    assert run(gate(), data, chunk=chunk) == data


def test_a_huge_binary_message_is_cut_to_the_cap_and_the_rest_skipped() -> None:
    g = gate()
    out = run(g, frame(BINARY, b"\x55" * (8 << 20)) + frame(TEXT, b"{}"), chunk=1 << 16)
    frames = parse_all(out)
    assert [f.opcode for f in frames] == [Opcode.BINARY, Opcode.TEXT]
    assert len(frames[0].data) == 480_000 and frames[0].fin
    assert g.admission.truncated_bytes == (8 << 20) - 480_000


def test_a_fragmented_message_over_the_cap_is_cut_and_still_finished() -> None:
    g = gate(max_binary_bytes=1000)
    data = (frame(BINARY, b"a" * 600, fin=False) + frame(CONTINUATION, b"b" * 600, fin=False)
            + frame(CONTINUATION, b"c" * 600, fin=False) + frame(CONTINUATION, b"d" * 10))
    frames = parse_all(run(g, data))
    assert b"".join(f.data for f in frames) == b"a" * 600 + b"b" * 400
    assert frames[-1].fin and frames[-1].data == b""  # the final fragment still ends it
    assert g.admission.truncated_bytes == 200 + 600 + 10


def test_over_the_message_rate_whole_messages_are_dropped_and_counted() -> None:
    g = gate(messages_per_s=10, message_burst=5)
    out = run(g, b"".join(frame(BINARY, b"\x01") for _ in range(20)), now=0.0)
    assert len(parse_all(out)) == 5
    dropped = g.admission.dropped
    assert dropped.messages == 15 and dropped.audio_bytes == 15
    assert len(parse_all(run(g, frame(BINARY, b"\x01"), now=0.1))) == 1  # refilled: 1 token


def test_a_dropped_fragmented_message_loses_all_its_fragments() -> None:
    g = gate(messages_per_s=0.001, message_burst=1)
    data = (frame(BINARY, b"ok") + frame(BINARY, b"a", fin=False) + frame(CONTINUATION, b"b")
            + frame(PING, b""))
    assert [f.data for f in parse_all(run(g, data))] == [b"ok"]


def test_pings_over_the_rate_go_unanswered_and_are_counted() -> None:
    g = gate(messages_per_s=1, message_burst=3)
    out = run(g, b"".join(frame(PING, b"p") for _ in range(10)))
    assert len(parse_all(out)) == 3 and g.admission.dropped.pings == 7


def test_text_has_its_own_lower_rate_and_a_size_limit() -> None:
    g = gate(texts_per_s=1, text_burst=2, max_text_bytes=10)
    out = run(g, frame(TEXT, b"{}") * 3 + frame(TEXT, b"x" * 11) + frame(BINARY, b"\x01"))
    assert [f.opcode for f in parse_all(out)] == [Opcode.TEXT, Opcode.TEXT, Opcode.BINARY]
    assert g.admission.dropped.texts == 1 and g.admission.too_large_texts == 1


def test_a_text_message_growing_past_the_limit_in_fragments_is_a_violation() -> None:
    g = gate(max_text_bytes=10)
    run(g, frame(TEXT, b'{"a": ', fin=False) + frame(CONTINUATION, b'"xxxxxx"}'))
    assert g.violation is not None


def test_close_and_masked_frames_pass_for_websockets_to_judge() -> None:
    close = frame(0x8, (1000).to_bytes(2, "big"))
    masked = bytes((0x82, 0x80 | 2)) + b"\x00\x00\x00\x00" + b"ab"
    g = gate(messages_per_s=0.001, message_burst=0)
    assert run(g, close + masked) == close + masked


def test_the_scan_budget_stops_the_pump_and_slices_bound_each_call() -> None:
    g = gate(scan_per_s=100, scan_burst=10)
    g.feed(frame(BINARY, b"\x01") * 30)
    assert len(parse_all(g.pump(0.0, 4))) == 4 and g.more and not g.starved
    assert len(parse_all(g.pump(0.0, 100))) == 6 and g.starved
    assert g.pump(0.0, 100) == b"" and g.pending == 20 * 3
    assert len(parse_all(g.pump(0.05, 100))) == 5  # 50 ms refilled 5 tokens


def test_abuse_is_over_a_limit_for_seconds_in_a_row() -> None:
    admission = Admission(ForkLimits(messages_per_s=10, message_burst=10, abuse_close_s=2), 0.0)
    now = 0.0
    while now < 3.0:
        for _ in range(20):
            admission.binary(1, now)
        assert admission.abusive(now) == (now >= 2.0)
        now += 0.25
    assert not admission.abusive(now + 1.5)  # it stopped: no longer at it


def test_the_report_is_a_rate_limited_warning_then_nothing() -> None:
    admission = Admission(ForkLimits(messages_per_s=1, message_burst=1), 0.0)
    admission.binary(160, 0.0)
    admission.binary(160, 0.0)
    admission.control(0.0)
    [warning] = admission.report()
    assert isinstance(warning, WarningFrame) and warning.code == "rate_limited"
    assert warning.dropped_ms == 20 and warning.counts["dropped_messages"] == 2
    assert warning.counts["dropped_pings"] == 1
    assert parse_yotel_frame(bytes(warning)) == warning
    assert admission.report() == [] and not admission.has_news


def test_token_bucket_refills_up_to_its_burst_and_runs_into_debt() -> None:
    bucket = TokenBucket(rate=100, burst=10, now=0.0)
    assert bucket.take_up_to(0.0, 25) == 10
    assert not bucket.take(0.0)
    bucket.charge(0.0, 5)
    assert abs(bucket.wait_s(0.0) - 0.06) < 1e-9
    assert bucket.take_up_to(10.0, 25) == 10
