"""Mute gates keep the timeline: muted frames become silence of the same size and law."""

from __future__ import annotations

import pytest

from yotel.media.gates import CallGates, MuteGate
from yotel.testing.audio import tone, tone_g711


@pytest.mark.parametrize(("encoding", "frame", "silent"), [
    ("pcm16", tone(440, 0.02), b"\0" * 320),
    ("pcmu", tone_g711(440, 0.02, "pcmu"), b"\xff" * 160),
    ("pcma", tone_g711(440, 0.02, "pcma"), b"\xd5" * 160),
])
def test_a_muted_gate_emits_silence_of_the_same_size(encoding: str, frame: bytes,
                                                     silent: bytes) -> None:
    gate = MuteGate(encoding)  # type: ignore[arg-type]
    assert gate.apply(frame) is frame
    gate.muted = True
    assert gate.apply(frame) == silent
    assert gate.apply(frame[:80]) == silent[:80]  # a 10 ms frame stays 10 ms
    gate.muted = False
    assert gate.apply(frame) is frame


def test_call_gates_per_direction() -> None:
    gates = CallGates(inbound="pcmu", outbound="pcm16")
    gates.mute("in")
    assert gates.is_muted("in") and not gates.is_muted("out")
    assert gates.inbound.apply(b"\x00" * 160) == b"\xff" * 160
    assert gates.outbound.apply(b"\x01" * 320) == b"\x01" * 320
    gates.mute("both")
    assert gates.is_muted("out")
    gates.mute("both", False)
    assert not gates.is_muted("in") and not gates.is_muted("out")
    with pytest.raises(ValueError):
        gates.mute("sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MuteGate("opus")  # type: ignore[arg-type]
