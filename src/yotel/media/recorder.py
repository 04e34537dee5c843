"""The stereo call recorder: 16-bit PCM WAV, 8 kHz, left = caller, right = AI.

Frames are interleaved per 20 ms tick and written to disk about once a second from a worker
thread (in order, one write in flight), so a long call never sits in memory and the event loop
never waits on the disk: even opening the file happens in the thread. The RIFF sizes are
patched on close. A pause writes silence for its span, so the timeline stays true, and the span
is noted and returned.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

RATE = 8000
FRAME = 160  # samples per channel per 20 ms tick
SILENT_FRAME = bytes(FRAME * 2)
FLUSH_FRAMES = 50  # ~1 s per disk write
FRAME_S = FRAME / RATE


@dataclass(frozen=True)
class PauseSpan:
    start_s: float  # offset into the recording
    end_s: float
    reason: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class RecordingResult:
    path: Path
    duration_s: float
    pauses: list[PauseSpan] = field(default_factory=list)

    @property
    def paused_s(self) -> float:
        return sum(p.duration_s for p in self.pauses)


def wav_header(data_bytes: int, *, channels: int = 2, rate: int = RATE) -> bytes:
    """The 44-byte canonical RIFF/WAVE header for 16-bit PCM."""
    block = 2 * channels
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 16)
            + b"data" + struct.pack("<I", data_bytes))


def _fit(pcm: bytes | None) -> bytes:
    """One channel's frame: a missing side is silence; a short frame is padded, a long one cut."""
    if pcm is None:
        return SILENT_FRAME
    if len(pcm) == len(SILENT_FRAME):
        return pcm
    return (pcm + SILENT_FRAME)[:len(SILENT_FRAME)]


class StereoRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._pending: list[bytes] = []
        self._frames = 0
        self._paused_at: tuple[float, str | None] | None = None
        self.pauses: list[PauseSpan] = []
        self._write_chain: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    @property
    def duration_s(self) -> float:
        return self._frames * FRAME_S

    def write(self, caller_pcm: bytes | None, ai_pcm: bytes | None) -> None:
        """One 20 ms tick; a missing side (or a paused recorder) is silence."""
        if self._closed:
            raise RuntimeError("the recorder is closed")
        if self._paused_at is not None:
            caller_pcm = ai_pcm = None
        stereo = np.empty(FRAME * 2, dtype="<i2")
        stereo[0::2] = np.frombuffer(_fit(caller_pcm), dtype="<i2")
        stereo[1::2] = np.frombuffer(_fit(ai_pcm), dtype="<i2")
        self._pending.append(stereo.tobytes())
        self._frames += 1
        if len(self._pending) >= FLUSH_FRAMES:
            self._flush()

    def pause(self, reason: str | None = None) -> None:
        """From the next tick on, both channels record silence (e.g. a card number is read)."""
        if self._paused_at is None:
            self._paused_at = (self.duration_s, reason)

    def resume(self) -> None:
        if self._paused_at is not None:
            start, reason = self._paused_at
            self.pauses.append(PauseSpan(start, self.duration_s, reason))
            self._paused_at = None

    def _flush(self) -> None:
        if not self._pending:
            return
        chunk, self._pending = b"".join(self._pending), []
        previous = self._write_chain
        self._write_chain = asyncio.ensure_future(self._write_after(previous, chunk))

    async def _write_after(self, previous: asyncio.Future[None] | None, chunk: bytes) -> None:
        if previous is not None:
            await previous  # in order; a failed write fails every later one, and close
        await asyncio.to_thread(self._write, chunk)

    def _write(self, chunk: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
            self._file.write(wav_header(0))
        self._file.write(chunk)

    async def close(self) -> RecordingResult:
        """Flush, patch the header and close the file; raises OSError if a write failed."""
        if self._closed:
            raise RuntimeError("the recorder is already closed")
        self._closed = True
        self.resume()
        self._flush()
        try:
            if self._write_chain is not None:
                await self._write_chain
        finally:
            await asyncio.to_thread(self._finish, self._frames * FRAME * 4)
        return RecordingResult(self.path, self.duration_s, list(self.pauses))

    def _finish(self, data_bytes: int) -> None:
        if self._file is None:
            self._write(b"")  # a recording with no ticks is still a valid, empty WAV
        assert self._file is not None
        with self._file:
            self._file.seek(0)
            self._file.write(wav_header(data_bytes))
