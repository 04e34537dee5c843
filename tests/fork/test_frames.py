"""Audio-fork text frames (PRODUCT.md §6.2, §6.5, §6.6): parse/serialize both ways, aliases,
errors, and a fuzz that nothing but `FrameError` ever escapes the parser."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.fork import frames

AI_FRAMES: list[frames.AiFrame] = [
    frames.Clear(), frames.Mark("m-1"), frames.ClearMarks(), frames.PlayAudio(b"\x01\xff" * 80)]
YOTEL_FRAMES: list[frames.YotelFrame] = [
    frames.Metadata({"call_id": "c1", "lead": {"id": "l1"}}),
    frames.Metadata({"call_id": "c1"}, frames.JAMBONZ_SUBPROTOCOL, resumed=True, gap_ms=750),
    frames.Dtmf("#", 120), frames.TokenRefresh("yt_cb_X", "2026-01-01T00:00:00Z"),
    frames.Event("hold", {"by": "agent"}), frames.WarningFrame("caller_audio_dropped", 40),
    frames.ErrorFrame("unknown_frame", "nope"), frames.Stop("caller_hangup"),
    frames.Cleared(1200, 340), frames.MarkEvent("m-1", "cleared", 1200)]


@pytest.mark.parametrize("frame", AI_FRAMES, ids=lambda f: type(f).__name__)
def test_ai_frames_round_trip(frame: frames.AiFrame) -> None:
    assert frames.parse(bytes(frame)) == frame
    assert frames.parse(bytes(frame).decode()) == frame


@pytest.mark.parametrize("frame", YOTEL_FRAMES, ids=lambda f: type(f).__name__)
def test_yotel_frames_round_trip(frame: frames.YotelFrame) -> None:
    assert frames.parse_yotel_frame(bytes(frame)) == frame


@pytest.mark.parametrize(("text", "expected"), [
    ('{"type": "killAudio"}', frames.Clear()),
    ('{"type": "mark", "data": {"name": "j1"}}', frames.Mark("j1")),
    ('{"type": "mark", "name": "flat", "data": {"name": "ignored"}}', frames.Mark("flat")),
    ('{"type": "playAudio", "data": {"audioContent": "AAE=", "audioContentType": "raw"}}',
     frames.PlayAudio(b"\x00\x01")),
])
def test_legacy_aliases_are_accepted(text: str, expected: frames.AiFrame) -> None:
    assert frames.parse(text) == expected


@pytest.mark.parametrize(("text", "code"), [
    ("{not json", "invalid_json"),
    (b"\xff\xfe", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('{"kind": "clear"}', "invalid_frame"),
    ('{"type": 7}', "invalid_frame"),
    ('{"type": "transfer"}', "unknown_frame"),
    ('{"type": "mark"}', "invalid_frame"),
    ('{"type": "mark", "name": ""}', "invalid_frame"),
    ('{"type": "mark", "name": "' + "x" * 300 + '"}', "invalid_frame"),
    ('{"type": "playAudio", "data": {"audioContent": "not base64!"}}', "invalid_frame"),
    ('{"type": "playAudio", "data": "AAE="}', "invalid_frame"),
    ('{"type": "playAudio"}', "invalid_frame"),
    ('{"type": "clear", "pad": "' + "x" * frames.MAX_TEXT_BYTES + '"}', "frame_too_large"),
    ("[" * 100_000 + "]" * 100_000, "invalid_json"),
])
def test_bad_frames_raise_frame_error_with_code(text: str | bytes, code: str) -> None:
    with pytest.raises(frames.FrameError) as info:
        frames.parse(text)
    assert info.value.code == code
    assert isinstance(info.value, ValueError)


def test_metadata_carries_fields_and_jambonz_extras() -> None:
    fields = {"call_id": "c9", "tenant_id": "t", "audio": {"encoding": "pcma"}}
    plain = json.loads(bytes(frames.Metadata(fields)))
    assert plain == {"type": "metadata", "protocol": "yotel.audio-fork/1", **fields,
                     "resumed": False}
    jambonz = json.loads(bytes(frames.Metadata(fields, frames.JAMBONZ_SUBPROTOCOL, True, 420)))
    assert jambonz["callSid"] == "c9" and jambonz["sampleRate"] == 8000
    assert jambonz["mixType"] == "mono" and jambonz["resumed"] is True and jambonz["gap_ms"] == 420


def test_dtmf_carries_both_vocabularies() -> None:
    body = json.loads(bytes(frames.Dtmf("5", 200)))
    assert body == {"type": "dtmf", "digit": "5", "duration_ms": 200, "event": "dtmf",
                    "dtmf": "5"}


def test_yotel_frame_parser_rejects_what_yotel_never_sends() -> None:
    for text in ('{"type": "mark", "name": "m", "event": "later", "played_ms": 1}',
                 '{"type": "metadata", "protocol": "other/9"}',
                 '{"type": "cleared", "played_ms": -1, "discarded_ms": 0}',
                 '{"type": "clear"}'):
        with pytest.raises(frames.FrameError):
            frames.parse_yotel_frame(text)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)
_typed = st.fixed_dictionaries(
    {"type": st.sampled_from(["clear", "killAudio", "mark", "clearMarks", "playAudio", "x"])},
    optional={"name": _json, "data": _json | st.fixed_dictionaries(
        {}, optional={"name": _json, "audioContent": _json | st.binary().map(
            lambda b: base64.b64encode(b).decode())})})


def _only_frame_errors(text: str | bytes) -> None:
    try:
        frame = frames.parse(text)
    except frames.FrameError:
        return
    assert frames.parse(bytes(frame)) == frame


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_fuzz_arbitrary_input_only_raises_frame_error(data: str | bytes) -> None:
    _only_frame_errors(data)


@given(_typed | _json)
def test_fuzz_json_shapes_only_raise_frame_error(body: Any) -> None:
    _only_frame_errors(json.dumps(body))
