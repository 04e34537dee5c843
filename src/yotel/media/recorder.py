"""The stereo call recorder: 16-bit PCM WAV, 8 kHz, left = caller, right = AI.

Each 20 ms tick only appends what it was given: the raw G.711 frames of both sides
(`write_g711`, the common case: no decoding on the event loop) or PCM frames (`write`: a
conference mix, a prompt), as one small tuple. About once a second the buffered ticks go to a
worker thread, which decodes and interleaves them in a few vectorised numpy operations and
appends them to the file (in order, one write in flight), so a long call never sits in memory
and the event loop never decodes, interleaves or waits on the disk: even opening the file
happens in the thread. Both kinds may alternate in one call; each tick keeps its place. The
RIFF sizes are patched on close. A pause writes silence for its span, so the timeline stays
true, and the span is noted and returned.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from yotel.domain.audio import FRAME_SAMPLES as FRAME  # per channel per 20 ms tick
from yotel.domain.audio import SAMPLE_RATE as RATE
from yotel.rtp import g711

SILENT_FRAME = bytes(FRAME * 2)
FLUSH_FRAMES = 50  # ~1 s per disk write
FRAME_S = FRAME / RATE
# One buffered tick: (the G.711 laws of (left, right), or None for PCM; left; right), a side
# None when missing.
Laws = tuple[str, str]
Tick = tuple[Laws | None, bytes | None, bytes | None]
_SILENT_TICK: Tick = (None, None, None)  # a paused tick
_DECODE = {"pcmu": g711.ULAW_TO_PCM, "pcma": g711.ALAW_TO_PCM}
_LAWS: dict[Laws, Laws] = {(a, b): (a, b) for a in _DECODE for b in _DECODE}  # shared tuples


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


def _decode_side(frames: list[bytes | None], law: str) -> npt.NDArray[np.int16]:
    """One channel of G.711 ticks → (ticks, 160) samples: one join and one table lookup for
    the whole run; a missing side is 0 (A-law has no code for 0), a ragged frame is decoded
    alone and padded with 0 or cut, as `write` fits PCM."""
    table, filler = _DECODE[law], g711.silence(law)
    odd = [i for i, f in enumerate(frames) if f is None or len(f) != FRAME]
    joined = b"".join([f if f is not None and len(f) == FRAME else filler for f in frames])
    samples = table[np.frombuffer(joined, dtype=np.uint8)].reshape(len(frames), FRAME)
    if odd:
        samples[odd] = 0
        for i in odd:
            frame = frames[i]
            if frame:  # ragged, rare: decoded alone
                decoded = table[np.frombuffer(frame[:FRAME], dtype=np.uint8)]
                samples[i, :len(decoded)] = decoded
    return samples


def render(ticks: list[Tick]) -> bytes:
    """Buffered ticks → interleaved little-endian stereo PCM (left = caller, right = AI)."""
    stereo = np.zeros((len(ticks), FRAME, 2), dtype="<i2")
    by_kind: dict[Laws | None, list[int]] = {}
    for i, tick in enumerate(ticks):
        by_kind.setdefault(tick[0], []).append(i)
    for laws, indices in by_kind.items():
        sides = ([ticks[i][1] for i in indices], [ticks[i][2] for i in indices])
        # One kind (the usual flush): a slice, not numpy's slower fancy indexing.
        rows = slice(None) if len(by_kind) == 1 else indices
        for channel, side in enumerate(sides):
            if laws is None:
                if any(f is not None for f in side):
                    pcm = b"".join([_fit(f) for f in side])
                    stereo[rows, :, channel] = np.frombuffer(pcm, "<i2").reshape(-1, FRAME)
            else:
                stereo[rows, :, channel] = _decode_side(side, laws[channel])
    return stereo.tobytes()


class StereoRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._pending: list[Tick] = []
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

    def write_g711(self, caller: bytes | None, ai: bytes | None, encoding: str,
                   ai_encoding: str | None = None) -> None:
        """One 20 ms tick of G.711 for both sides, as they were sent or received: `caller` in
        `encoding` ("pcmu"/"pcma"), `ai` in `ai_encoding` (default: the same law; an AI on the
        other law needs no transcoding for the recorder). Decoded later, in the worker. A
        missing side is silence. The frames are kept until the flush: pass immutable bytes,
        not a reused buffer."""
        laws = _LAWS.get((encoding, ai_encoding or encoding))
        if laws is None:
            raise ValueError(f"unknown G.711 encoding in {(encoding, ai_encoding)!r}")
        self._append((laws, caller, ai))

    def write(self, caller_pcm: bytes | None, ai_pcm: bytes | None) -> None:
        """One 20 ms tick of 8 kHz int16 PCM (a mix, a prompt); a missing side is silence."""
        self._append((None, caller_pcm, ai_pcm))

    def write_silence(self, ticks: int) -> None:
        """`ticks` periods of silence on both sides (periods the media clock skipped)."""
        for _ in range(ticks):
            self._append(_SILENT_TICK)

    def _append(self, tick: Tick) -> None:
        if self._closed:
            raise RuntimeError("the recorder is closed")
        self._pending.append(tick if self._paused_at is None else _SILENT_TICK)
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
        ticks, self._pending = self._pending, []
        previous = self._write_chain
        self._write_chain = asyncio.ensure_future(self._write_after(previous, ticks))

    async def _write_after(self, previous: asyncio.Future[None] | None,
                           ticks: list[Tick]) -> None:
        if previous is not None:
            await previous  # in order; a failed write fails every later one, and close
        await asyncio.to_thread(self._render_and_write, ticks)

    def _render_and_write(self, ticks: list[Tick]) -> None:
        self._write(render(ticks))

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
        # The last ticks and the header patch go in one trip to the worker (a short call's
        # whole recording: one thread hop, not two).
        ticks, self._pending = self._pending, []
        size = self._frames * FRAME * 4
        try:
            if self._write_chain is not None:
                await self._write_chain
        except BaseException:
            await asyncio.to_thread(self._finish, size)  # a failed write fails the rest
            raise
        await asyncio.to_thread(self._write_last, ticks, size)
        return RecordingResult(self.path, self.duration_s, list(self.pauses))

    def _write_last(self, ticks: list[Tick], data_bytes: int) -> None:
        try:
            if ticks:
                self._render_and_write(ticks)
        finally:
            self._finish(data_bytes)

    def _finish(self, data_bytes: int) -> None:
        if self._file is None:
            self._write(b"")  # a recording with no ticks is still a valid, empty WAV
        assert self._file is not None
        with self._file:
            self._file.seek(0)
            self._file.write(wav_header(data_bytes))
