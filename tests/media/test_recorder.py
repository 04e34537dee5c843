"""The stereo recorder: channels, streaming to disk, pauses, failures."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path

import numpy as np
import pytest

from yotel.media.recorder import PauseSpan, StereoRecorder
from yotel.rtp import g711
from yotel.testing.audio import (
    FRAME_SAMPLES,
    dominant_frequency,
    frames,
    has_tone,
    read_wav,
    rms,
    silence,
    tone,
    tone_g711,
    tone_ratio,
    wav_bytes,
)


def feed(recorder: StereoRecorder, left: bytes | None, right: bytes | None, ticks: int) -> None:
    lf = frames(left) if left else [None] * ticks
    rf = frames(right) if right else [None] * ticks
    for i in range(ticks):
        recorder.write(lf[i], rf[i])


async def test_left_is_the_caller_right_is_the_ai(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "calls" / "a.wav")  # the folder is created
    feed(recorder, tone(440, 3.0), tone(1000, 3.0), 150)
    result = await recorder.close()
    assert result.duration_s == pytest.approx(3.0) and result.pauses == []
    wav = read_wav(result.path)
    assert (wav.rate, wav.channels) == (8000, 2)
    assert wav.duration_s == pytest.approx(3.0)
    caller, ai = wav.channel(0), wav.channel(1)
    assert has_tone(caller, 440) and not has_tone(caller, 1000)
    assert has_tone(ai, 1000) and not has_tone(ai, 440)


async def test_a_missing_side_is_silence_and_odd_frames_are_fitted(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "b.wav")
    feed(recorder, tone(600, 1.0), None, 50)
    recorder.write(b"\x10\x00" * 100, b"\x20\x00" * 200)  # short and long frames
    result = await recorder.close()
    wav = read_wav(result.path)
    assert len(wav.data) == 51 * 160
    assert rms(wav.channel(1)[:50 * 160]) == 0.0 and has_tone(wav.channel(0)[:8000], 600)
    last = wav.data[50 * 160:]
    assert (last[:100, 0] == 16).all() and (last[100:, 0] == 0).all() and (last[:, 1] == 32).all()
    with pytest.raises(RuntimeError):
        recorder.write(None, None)


async def test_pause_writes_silence_and_reports_the_span(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "c.wav")
    speech = frames(tone(500, 3.0))
    for i, frame in enumerate(speech):
        if i == 50:
            recorder.pause("card number")
            recorder.pause("again")  # already paused: the first reason stands
        if i == 75:
            recorder.resume()
        if i == 125:
            recorder.pause()
        recorder.write(frame, frame)
    assert recorder.paused
    result = await recorder.close()  # closes the open pause at the end
    assert result.pauses == [PauseSpan(1.0, 1.5, "card number"), PauseSpan(2.5, 3.0, None)]
    assert result.pauses[0].duration_s == pytest.approx(0.5)
    assert result.paused_s == pytest.approx(1.0)
    wav = read_wav(result.path)
    assert rms(wav.span(1.0, 1.5).data) == 0.0 and rms(wav.span(2.5, 3.0).data) == 0.0
    assert has_tone(wav.span(0.0, 1.0).channel(0), 500)
    assert has_tone(wav.span(1.5, 2.5).channel(1), 500)


async def test_audio_reaches_the_disk_while_recording(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "d.wav")
    feed(recorder, tone(300, 2.2), tone(700, 2.2), 110)  # two 1 s chunks and a remainder
    async with asyncio.timeout(5):
        while not recorder.path.exists() or recorder.path.stat().st_size < 44 + 100 * 640:
            await asyncio.sleep(0.01)
    assert recorder.path.stat().st_size == 44 + 100 * 640  # the remainder is still pending
    result = await recorder.close()
    assert result.path.stat().st_size == 44 + 110 * 640
    assert read_wav(result.path).duration_s == pytest.approx(2.2)


async def test_an_empty_recording_is_a_valid_wav(tmp_path: Path) -> None:
    result = await StereoRecorder(tmp_path / "e.wav").close()
    wav = read_wav(result.path)
    assert (wav.channels, len(wav.data), result.duration_s) == (2, 0, 0.0)


async def test_a_failed_write_surfaces_at_close(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("x")
    recorder = StereoRecorder(tmp_path / "not-a-dir" / "f.wav")
    feed(recorder, tone(300, 1.2), None, 60)
    with pytest.raises(OSError):
        await recorder.close()
    with pytest.raises(RuntimeError):
        await recorder.close()


def reference_interleave(ticks: list[tuple[bytes | None, bytes | None]], law: str) -> bytes:
    """What the recorder wrote before `write_g711`: decode each side per tick, interleave."""
    out = []
    for left, right in ticks:
        stereo = np.zeros((FRAME_SAMPLES, 2), "<i2")
        for channel, frame in enumerate((left, right)):
            if frame:
                pcm = np.frombuffer(g711.decode(frame, law), "<i2")[:FRAME_SAMPLES]
                stereo[:len(pcm), channel] = pcm
        out.append(stereo.tobytes())
    return b"".join(out)


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
async def test_g711_ticks_are_decoded_at_flush_exactly_as_per_tick_decoding(
        tmp_path: Path, law: str) -> None:
    rng = np.random.default_rng(11)
    caller, ai = frames(tone_g711(440, 2.5, law), 160), frames(tone_g711(1000, 2.5, law), 160)
    ticks: list[tuple[bytes | None, bytes | None]] = [
        (caller[i], ai[i] if i % 3 else None) for i in range(125)]  # the AI silent every 3rd
    ticks[7] = (None, None)
    ticks[8] = (caller[8][:100], ai[8] + b"\x00" * 40)  # ragged: padded with 0 / cut
    ticks[9] = (bytes(rng.integers(0, 256, 160, dtype=np.uint8)), b"")  # every code; empty
    recorder = StereoRecorder(tmp_path / "g.wav")
    for left, right in ticks:
        recorder.write_g711(left, right, law)
    assert len(recorder._pending) == 125 - 2 * 50  # buffered raw; two flushes are out
    result = await recorder.close()
    wav = read_wav(result.path)
    assert wav.data.tobytes() == reference_interleave(ticks, law)
    assert result.duration_s == pytest.approx(2.5)
    assert has_tone(wav.channel(0), 440) and has_tone(wav.channel(1), 1000)
    assert (wav.data[7 * 160:8 * 160] == 0).all()  # a missing side is 0, even in A-law


async def test_pcm_and_g711_ticks_interleave_in_their_order(tmp_path: Path) -> None:
    # A call that records the AI in μ-law, then a conference mix (PCM), then A-law, with a
    # pause in the middle of the PCM span: each tick keeps its place on the timeline.
    recorder = StereoRecorder(tmp_path / "h.wav")
    ulaw, pcm = frames(tone_g711(500, 1.0, "pcmu"), 160), frames(tone(700, 1.0))
    alaw = frames(tone_g711(900, 1.0, "pcma"), 160)
    for i in range(30):
        recorder.write_g711(ulaw[i], ulaw[i], "pcmu")
    for i in range(30):
        if i == 10:
            recorder.pause("card")
        if i == 20:
            recorder.resume()
        recorder.write(pcm[i], None)
    for i in range(40):
        recorder.write_g711(None, alaw[i], "pcma")
    result = await recorder.close()
    assert result.pauses == [PauseSpan(0.8, 1.0, "card")]
    wav = read_wav(result.path)
    assert wav.duration_s == pytest.approx(2.0)
    assert dominant_frequency(wav.span(0.0, 0.6).channel(0)) == pytest.approx(500, abs=10)
    assert dominant_frequency(wav.span(0.0, 0.6).channel(1)) == pytest.approx(500, abs=10)
    assert dominant_frequency(wav.span(0.6, 0.8).channel(0)) == pytest.approx(700, abs=10)
    assert rms(wav.span(0.6, 1.2).channel(1)) == 0.0 and rms(wav.span(0.8, 1.0).data) == 0.0
    assert dominant_frequency(wav.span(1.0, 1.2).channel(0)) == pytest.approx(700, abs=10)
    assert rms(wav.span(1.2, 2.0).channel(0)) == 0.0
    assert dominant_frequency(wav.span(1.2, 2.0).channel(1)) == pytest.approx(900, abs=10)
    assert wav.data[30 * 160:31 * 160, 0].tobytes() == pcm[0]  # PCM is stored untouched


async def test_each_side_may_have_its_own_law(tmp_path: Path) -> None:
    # The caller on μ-law, the AI on A-law (transcoded for the caller, not for the recorder).
    caller, ai = frames(tone_g711(440, 1.0, "pcmu"), 160), frames(tone_g711(1000, 1.0, "pcma"), 160)
    recorder = StereoRecorder(tmp_path / "j.wav")
    for i in range(50):
        recorder.write_g711(caller[i], ai[i], "pcmu", "pcma")
    recorder.write_g711(caller[0], ai[0], "pcmu", "pcmu")  # laws may change between ticks
    wav = read_wav((await recorder.close()).path)
    assert wav.data[:50 * 160, 0].tobytes() == g711.decode(b"".join(caller), "pcmu")
    assert wav.data[:50 * 160, 1].tobytes() == g711.decode(b"".join(ai), "pcma")
    assert wav.data[50 * 160:, 1].tobytes() == g711.decode(ai[0], "pcmu")


async def test_g711_needs_a_known_law(tmp_path: Path) -> None:
    recorder = StereoRecorder(tmp_path / "i.wav")
    with pytest.raises(ValueError, match="opus"):
        recorder.write_g711(b"\xff" * 160, None, "opus")
    with pytest.raises(ValueError, match="g722"):
        recorder.write_g711(b"\xff" * 160, None, "pcmu", "g722")
    await recorder.close()
    with pytest.raises(RuntimeError):
        recorder.write_g711(None, None, "pcmu")


def test_the_test_audio_tools_tell_tones_apart() -> None:
    assert dominant_frequency(tone(1234, 0.5)) == pytest.approx(1234, abs=5)
    assert dominant_frequency(silence(0.1)) == 0.0 and tone_ratio(silence(0.1), 440) == 0.0
    assert not has_tone(tone(440, 0.5, amplitude=50), 440)  # too quiet to count as heard
    law = g711.decode(tone_g711(2000, 0.5, "pcma"), "pcma")
    assert has_tone(law, 2000, min_ratio=0.95) and not has_tone(law, 1000)
    assert len(frames(tone(300, 0.05))) == 2  # the 10 ms tail is not a whole frame
    wav = read_wav(wav_bytes(tone(500, 0.2, rate=16000), rate=16000))
    assert (wav.rate, wav.channels, wav.duration_s) == (16000, 1, 0.2)
    assert has_tone(wav.channel(0), 500, rate=16000)
    eight_bit = io.BytesIO()
    with wave.open(eight_bit, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(b"\x80" * 80)
    with pytest.raises(ValueError, match="16-bit"):
        read_wav(eight_bit.getvalue())
