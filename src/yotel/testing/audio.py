"""Test audio for Yotel's tests and for users' tests: make tones, find them again.

Everything is 8 kHz signed 16-bit mono PCM unless a rate is given (the house audio format,
docs/architecture.md "Audio conventions"). Detection is spectral and vectorised (numpy FFT), so
checking a minute of recording takes milliseconds.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from yotel.domain.audio import FRAME_SAMPLES
from yotel.domain.audio import SAMPLE_RATE as RATE
from yotel.rtp import g711

Samples = npt.NDArray[np.int16]


def tone(freq_hz: float, seconds: float, *, amplitude: int = 8000, rate: int = RATE,
         phase: float = 0.0) -> bytes:
    """A sine tone as little-endian int16 PCM bytes."""
    t = np.arange(round(rate * seconds)) / rate
    wave_ = amplitude * np.sin(2 * np.pi * freq_hz * t + phase)
    return bytes(np.clip(np.rint(wave_), -32768, 32767).astype("<i2").tobytes())


def tone_g711(freq_hz: float, seconds: float, encoding: str = "pcmu", *,
              amplitude: int = 8000) -> bytes:
    """A tone as G.711 bytes ('pcmu' or 'pcma'), ready to send as RTP payloads."""
    return g711.encode(tone(freq_hz, seconds, amplitude=amplitude), encoding)


def silence(seconds: float, *, rate: int = RATE) -> bytes:
    return bytes(2 * round(rate * seconds))


def frames(pcm: bytes, frame_bytes: int = 2 * FRAME_SAMPLES) -> list[bytes]:
    """Split audio into whole frames (the last, partial one is dropped)."""
    return [pcm[i:i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes)]


def samples(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2")


def tone_ratio(audio: Samples | bytes, freq_hz: float, *, rate: int = RATE,
               bandwidth_hz: float = 30.0) -> float:
    """The share of the signal's energy within `bandwidth_hz` of `freq_hz` (0.0-1.0).

    A Hann window keeps a tone that does not fall on an FFT bin from leaking far. Silence gives
    0.0, a clean tone close to 1.0, a tone mixed with another of equal level about 0.5.
    """
    x = samples(audio) if isinstance(audio, bytes) else audio
    if len(x) < 2:
        return 0.0
    windowed = x.astype(np.float64) * np.hanning(len(x))
    power = np.abs(np.fft.rfft(windowed)) ** 2
    total = float(power[1:].sum())  # DC is not a tone
    if total <= 0.0:
        return 0.0
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    band = (np.abs(freqs - freq_hz) <= bandwidth_hz) & (freqs > 0)
    return float(power[band].sum()) / total


def has_tone(audio: Samples | bytes, freq_hz: float, *, rate: int = RATE,
             min_ratio: float = 0.5, min_rms: float = 100.0) -> bool:
    """True if `freq_hz` carries at least `min_ratio` of an audible (RMS ≥ min_rms) signal."""
    x = samples(audio) if isinstance(audio, bytes) else audio
    return rms(x) >= min_rms and tone_ratio(x, freq_hz, rate=rate) >= min_ratio


def dominant_frequency(audio: Samples | bytes, *, rate: int = RATE) -> float:
    """The strongest frequency (Hz), DC excluded; 0.0 for silence."""
    x = samples(audio) if isinstance(audio, bytes) else audio
    power = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    if len(power) < 2 or not power[1:].any():
        return 0.0
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(power[1:])) + 1])


def rms(audio: Samples | bytes) -> float:
    x = samples(audio) if isinstance(audio, bytes) else audio
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) if len(x) else 0.0


@dataclass(frozen=True)
class WavAudio:
    """A decoded 16-bit WAV: `data` has one column per channel."""

    rate: int
    data: npt.NDArray[np.int16]  # shape (frames, channels)

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return len(self.data) / self.rate

    def channel(self, index: int) -> Samples:
        return np.ascontiguousarray(self.data[:, index])

    def span(self, start_s: float, end_s: float) -> WavAudio:
        return WavAudio(self.rate, self.data[round(start_s * self.rate):round(end_s * self.rate)])


def read_wav(source: Path | str | bytes) -> WavAudio:
    """Read a 16-bit PCM WAV from a path or from bytes; ValueError for other sample widths."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with handle, wave.open(handle) as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit samples, got {8 * wav.getsampwidth()}-bit")
        raw = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return WavAudio(wav.getframerate(), raw.reshape(-1, wav.getnchannels()))


def wav_bytes(pcm: bytes, *, rate: int = RATE, channels: int = 1) -> bytes:
    """Wrap interleaved int16 PCM in a WAV container (e.g. to serve as a prompt in a test)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()
