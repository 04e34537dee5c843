"""The stereo call recorder: 16-bit PCM WAV, 8 kHz, left = caller, right = AI.

Frames are interleaved per 20 ms tick and written to disk about once a second from a worker
thread (in order, one write in flight), so a long call never sits in memory and the event loop
never waits on the disk. The RIFF sizes are patched on close. A pause writes silence for its
span, so the timeline stays true, and the span is noted.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

RATE = 8000
FRAME = 160
SILENT_FRAME = bytes(FRAME * 2)
FLUSH_FRAMES = 50  # ~1 s per disk write


@dataclass
class RecordingResult:
    path: Path
    duration_s: float
    pauses: list[tuple[float, float, str | None]] = field(default_factory=list)


def _header(data_bytes: int) -> bytes:
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 2, RATE, RATE * 4, 4, 16)
            + b"data" + struct.pack("<I", data_bytes))


class StereoRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = path.open("wb")
        self._file.write(_header(0))
        self._pending: list[bytes] = []
        self._frames = 0
        self._paused_at: tuple[float, str | None] | None = None
        self.pauses: list[tuple[float, float, str | None]] = []
        self._write_chain: asyncio.Future[None] | None = None

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def write(self, caller_pcm: bytes | None, ai_pcm: bytes | None) -> None:
        """One 20 ms tick; a missing side (or a paused recorder) is silence."""
        if self._paused_at is not None or caller_pcm is None:
            caller_pcm = SILENT_FRAME
        if self._paused_at is not None or ai_pcm is None:
            ai_pcm = SILENT_FRAME
        stereo = np.empty(FRAME * 2, dtype="<i2")
        stereo[0::2] = np.frombuffer(caller_pcm, dtype="<i2")
        stereo[1::2] = np.frombuffer(ai_pcm, dtype="<i2")
        self._pending.append(stereo.tobytes())
        self._frames += 1
        if len(self._pending) >= FLUSH_FRAMES:
            self._flush()

    def pause(self, reason: str | None = None) -> None:
        if self._paused_at is None:
            self._paused_at = (self._frames * FRAME / RATE, reason)

    def resume(self) -> None:
        if self._paused_at is not None:
            start, reason = self._paused_at
            self.pauses.append((start, self._frames * FRAME / RATE, reason))
            self._paused_at = None

    def _flush(self) -> None:
        if not self._pending:
            return
        chunk, self._pending = b"".join(self._pending), []
        previous = self._write_chain
        self._write_chain = asyncio.ensure_future(self._write_after(previous, chunk))

    async def _write_after(self, previous: asyncio.Future[None] | None, chunk: bytes) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._file.write, chunk)

    async def close(self) -> RecordingResult:
        self.resume()
        self._flush()
        if self._write_chain is not None:
            await self._write_chain
        data_bytes = self._frames * FRAME * 4
        await asyncio.to_thread(self._finish, data_bytes)
        return RecordingResult(self.path, self._frames * FRAME / RATE, self.pauses)

    def _finish(self, data_bytes: int) -> None:
        self._file.seek(0)
        self._file.write(_header(data_bytes))
        self._file.close()
