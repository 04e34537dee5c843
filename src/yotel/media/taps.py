"""Taps: observers that see every tick's audio of a call, one side per channel, and change
nothing the parties hear. No sockets of their own.

- `caller` is what the caller side said this tick: the caller, or in a conference everyone but
  the AI;
- `other` is the other side: the AI, or after a transfer the human agent bridged in.
The recorder writes them as left and right; a monitor stream sends their sum to another AI.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import numpy as np

from yotel.domain.audio import SILENT_PCM_FRAME, Encoding, as_encoding
from yotel.fork.client import AudioFork
from yotel.media.recorder import StereoRecorder
from yotel.media.routing import Audio
from yotel.rtp import g711


class Tap(Protocol):
    def on_tick(self, caller: Audio | None, other: Audio | None) -> None: ...

    def on_skipped(self, ticks: int) -> None:
        """The clock skipped `ticks` periods of the call (a stalled loop)."""


class RecorderTap:
    """Left = the caller side, right = the other side (PRODUCT.md §7: stereo, L caller R AI)."""

    def __init__(self, recorder: StereoRecorder) -> None:
        self.recorder = recorder

    def on_tick(self, caller: Audio | None, other: Audio | None) -> None:
        # G.711 on both sides (the common case, whatever each side's law): kept as it is,
        # decoded per flush off the loop; a mixed frame (a conference's PCM) goes through PCM.
        if (caller is None or caller.fmt != "pcm16") and (other is None or other.fmt != "pcm16"):
            law = _law(caller, other)
            self.recorder.write_g711(caller.data if caller else None,
                                     other.data if other else None,
                                     _law(caller, None, law), _law(other, None, law))
        else:
            self.recorder.write(caller.pcm() if caller else None,
                                other.pcm() if other else None)

    def on_skipped(self, ticks: int) -> None:
        self.recorder.write_silence(ticks)  # the file's time stays the call's


class MonitorTap:
    """A monitor stream (PRODUCT.md §6.8): both sides mixed, sent to a second fork as the
    caller audio of that fork's timeline."""

    def __init__(self, fork: AudioFork) -> None:
        self.fork = fork
        self.law: Encoding = as_encoding(fork.config.encoding)
        self.frames = 0

    def on_skipped(self, ticks: int) -> None:
        """Silence for the periods skipped: the monitoring AI's timeline stays the call's."""
        self.fork.send_caller_silence(ticks)

    def on_tick(self, caller: Audio | None, other: Audio | None) -> None:
        self.frames += 1
        if other is None or caller is None:
            only = caller or other
            self.fork.send_caller_frame(only.to(self.law) if only else g711.silence(self.law))
            return
        total = (np.frombuffer(caller.pcm(), dtype="<i2").astype(np.int32)
                 + np.frombuffer(other.pcm(), dtype="<i2"))
        mixed = np.clip(total, -32768, 32767).astype("<i2")
        self.fork.send_caller_frame(g711.encode_samples(mixed, self.law))


class ForkPlayoutSource:
    """What an AI sends on a fork, as a PCM source (a monitor stream's whisper): its queued
    audio frame by frame, silence while it says nothing; it ends when the fork closes."""

    def __init__(self, fork: AudioFork) -> None:
        self.fork = fork
        self._law: Encoding = as_encoding(fork.config.encoding)
        self._loop = asyncio.get_running_loop()

    def read_frame(self) -> bytes | None:
        if self.fork.outcome.done():
            return None
        frame = self.fork.next_frame(self._loop.time())
        return g711.decode(frame, self._law) if frame is not None else SILENT_PCM_FRAME


def _law(first: Audio | None, second: Audio | None, default: Encoding = "pcmu") -> Encoding:
    """The G.711 law of the first present side (neither is PCM here)."""
    for side in (first, second):
        if side is not None and side.fmt != "pcm16":
            return side.fmt
    return default
