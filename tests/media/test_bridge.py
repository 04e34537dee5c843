"""The two-leg bridge: pass-through for the same law, one-table transcoding otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from yotel.media.bridge import Bridge
from yotel.rtp import g711
from yotel.testing.audio import has_tone, tone_g711


@dataclass
class FakeLeg:
    encoding: str
    sent: list[bytes] = field(default_factory=list)

    def send_frame(self, payload: bytes) -> None:
        self.sent.append(payload)


def test_same_law_passes_the_payload_through_untouched() -> None:
    a, b = FakeLeg("pcmu"), FakeLeg("pcmu")
    bridge = Bridge(a, b)
    frame = tone_g711(440, 0.02, "pcmu")
    bridge.from_a(frame)
    bridge.forward("b", frame)
    assert b.sent[0] is frame and a.sent[0] is frame
    assert not bridge.transcoding and bridge.stats.passed_through == 2


def test_different_laws_are_transcoded_both_ways() -> None:
    a, b = FakeLeg("pcmu"), FakeLeg("pcma")
    bridge = Bridge(a, b)
    bridge.from_a(tone_g711(440, 0.5, "pcmu"))
    bridge.from_b(tone_g711(1000, 0.5, "pcma"))
    assert has_tone(g711.decode(b.sent[0], "pcma"), 440)
    assert has_tone(g711.decode(a.sent[0], "pcmu"), 1000)
    assert bridge.transcoding and bridge.stats.transcoded == 2


def test_mute_sends_silence_in_the_target_law_and_close_stops() -> None:
    a, b = FakeLeg("pcma"), FakeLeg("pcmu")
    bridge = Bridge(a, b)
    bridge.mute("a")
    bridge.from_a(tone_g711(440, 0.02, "pcma"))
    assert b.sent == [b"\xff" * 160] and bridge.stats.muted == 1
    bridge.mute("a", False)
    bridge.close()
    bridge.from_a(tone_g711(440, 0.02, "pcma"))
    assert len(b.sent) == 1
    with pytest.raises(ValueError):
        Bridge(FakeLeg("opus"), b)
