"""The N-party mixer: everyone hears the others, monitors, whispers, clipping."""

from __future__ import annotations

import numpy as np
import pytest

from yotel.media.mixer import Mixer
from yotel.testing.audio import frames, has_tone, rms, samples, tone, tone_ratio

A, B, C = 400.0, 1000.0, 2200.0


def run(mixer: Mixer, voices: dict[str, float], ticks: int = 25) -> dict[str, bytes]:
    """Push `ticks` frames of each member's tone; the concatenated mix per listener."""
    sources = {m: frames(tone(f, ticks * 0.02, amplitude=4000)) for m, f in voices.items()}
    heard: dict[str, list[bytes]] = {}
    for i in range(ticks):
        for member, source in sources.items():
            mixer.push(member, source[i])
        for listener, frame in mixer.mix().items():
            heard.setdefault(listener, []).append(frame)
    return {listener: b"".join(parts) for listener, parts in heard.items()}


def test_three_party_conference_each_hears_the_other_two() -> None:
    mixer = Mixer()
    for member in "abc":
        mixer.join(member)
    heard = run(mixer, {"a": A, "b": B, "c": C})
    assert not has_tone(heard["a"], A, min_ratio=0.05)
    assert tone_ratio(heard["a"], B) == pytest.approx(0.5, abs=0.1)
    assert tone_ratio(heard["a"], C) == pytest.approx(0.5, abs=0.1)
    assert has_tone(heard["b"], A, min_ratio=0.4) and has_tone(heard["b"], C, min_ratio=0.4)
    assert not has_tone(heard["c"], C, min_ratio=0.05)


def test_monitor_hears_all_and_is_heard_by_none_whisper_reaches_its_target_only() -> None:
    mixer = Mixer()
    mixer.join("customer")
    mixer.join("agent")
    mixer.join("supervisor", speaks=False)
    mixer.join("coach", heard_by={"agent"}, hears=False)
    heard = run(mixer, {"customer": A, "agent": B, "supervisor": 3000.0, "coach": C})
    assert set(heard) == {"customer", "agent", "supervisor"}  # the coach hears nothing
    assert has_tone(heard["supervisor"], A, min_ratio=0.4)
    assert has_tone(heard["supervisor"], B, min_ratio=0.4)
    assert not has_tone(heard["supervisor"], C, min_ratio=0.05)  # a whisper skips monitors
    assert has_tone(heard["agent"], C, min_ratio=0.4) and has_tone(heard["agent"], A, min_ratio=0.4)
    assert has_tone(heard["customer"], B, min_ratio=0.9)  # only the agent, no coach
    for listener in heard:
        assert tone_ratio(heard[listener], 3000.0) < 0.01  # the monitor's pushes are ignored


def test_join_leave_and_silence_when_nobody_speaks() -> None:
    mixer = Mixer()
    mixer.join("a")
    mixer.join("b")
    assert mixer.mix() == {"a": bytes(320), "b": bytes(320)}
    mixer.push("a", tone(A, 0.02))
    mixer.leave("a")
    assert mixer.mix() == {"b": bytes(320)}  # a left: its pending frame went with it
    mixer.join("b", speaks=False)  # a role change
    assert [m.speaks for m in mixer.members] == [False]
    with pytest.raises(KeyError):
        mixer.push("a", bytes(320))


def test_sums_clip_instead_of_wrapping() -> None:
    mixer = Mixer()
    for member in "abc":
        mixer.join(member)
    loud = np.full(160, 30000, "<i2").tobytes()
    mixer.push("a", loud)
    mixer.push("b", loud)
    mixer.push("c", np.full(80, -30000, "<i2").tobytes())  # short: padded with silence
    out = mixer.mix()
    assert (samples(out["c"]) == 32767).all()
    assert (samples(out["a"])[:80] == 0).all() and (samples(out["a"])[80:] == 30000).all()
    assert rms(out["b"]) > 0
