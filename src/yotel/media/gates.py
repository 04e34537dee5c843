"""Mute gates, one per direction of a call. No I/O.

A muted gate does not drop frames: it replaces each with silence of the same size and format,
so the far end's jitter buffer, the AI's timeline and the recording keep their clock (PRODUCT.md
mute semantics: the other side hears nothing, time still passes).
"""

from __future__ import annotations

from typing import Literal

from yotel.rtp.g711 import SILENCE_ALAW, SILENCE_ULAW

Direction = Literal["in", "out"]  # in: caller → AI; out: AI / prompts → caller
Encoding = Literal["pcm16", "pcmu", "pcma"]
_SILENCE_BYTE: dict[str, int] = {"pcm16": 0, "pcmu": SILENCE_ULAW, "pcma": SILENCE_ALAW}


class MuteGate:
    """Passes frames through, or silence of the same length while muted."""

    def __init__(self, encoding: Encoding = "pcm16") -> None:
        if encoding not in _SILENCE_BYTE:
            raise ValueError(f"unknown encoding {encoding!r}")
        self.encoding = encoding
        self.muted = False
        self._silence: dict[int, bytes] = {}  # by length: built once, reused every tick

    def apply(self, frame: bytes) -> bytes:
        if not self.muted:
            return frame
        silence = self._silence.get(len(frame))
        if silence is None:
            silence = self._silence[len(frame)] = bytes([_SILENCE_BYTE[self.encoding]]) * len(
                frame)
        return silence


class CallGates:
    """A call's two gates: `inbound` (what the AI hears), `outbound` (what the caller hears)."""

    def __init__(self, inbound: Encoding = "pcm16", outbound: Encoding = "pcm16") -> None:
        self.inbound = MuteGate(inbound)
        self.outbound = MuteGate(outbound)

    def gate(self, direction: Direction) -> MuteGate:
        if direction == "in":
            return self.inbound
        if direction == "out":
            return self.outbound
        raise ValueError(f"direction must be 'in' or 'out', got {direction!r}")

    def mute(self, direction: Direction | Literal["both"], muted: bool = True) -> None:
        for d in ("in", "out") if direction == "both" else (direction,):
            self.gate(d).muted = muted

    def is_muted(self, direction: Direction) -> bool:
        return self.gate(direction).muted
