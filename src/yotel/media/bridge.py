"""Two legs joined (a transfer, a B2BUA call): each side's RTP payload goes to the other.

The 2-party case of the mixer, kept separate because it is the hot one: when both legs use the
same G.711 law the payload passes through untouched (no decode, no copy); otherwise one
256-entry table lookup converts μ-law ⇄ A-law (ITU-T G.711 Table 1/2 via `g711.transcode`).
Frames arrive from RTP and are relayed at once, so the bridge adds no clock delay. No I/O of its
own: it calls the legs' `send_frame`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from yotel.rtp import g711

Side = Literal["a", "b"]


class FrameSink(Protocol):
    """What a bridge needs of a leg: its wire law and a way to send a frame."""

    @property
    def encoding(self) -> str: ...

    def send_frame(self, payload: bytes) -> None: ...


@dataclass
class BridgeStats:
    passed_through: int = 0
    transcoded: int = 0
    muted: int = 0


class Bridge:
    """Relays `a` ⇄ `b`. `mute(side)` silences what that side *sends* into the bridge."""

    def __init__(self, a: FrameSink, b: FrameSink) -> None:
        self.a, self.b = a, b
        self.stats = BridgeStats()
        self.muted: dict[Side, bool] = {"a": False, "b": False}
        self.open = True
        _check_law(a)
        _check_law(b)

    @property
    def transcoding(self) -> bool:
        return self.a.encoding != self.b.encoding

    def mute(self, side: Side, muted: bool = True) -> None:
        """Silence what `side` says (the frames still flow: the other side's clock runs)."""
        self.muted[side] = muted

    def from_a(self, payload: bytes) -> None:
        self._relay(payload, self.a, self.b, self.muted["a"])

    def from_b(self, payload: bytes) -> None:
        self._relay(payload, self.b, self.a, self.muted["b"])

    def forward(self, side: Side, payload: bytes) -> None:
        (self.from_a if side == "a" else self.from_b)(payload)

    def close(self) -> None:
        """Stop relaying (the legs stay up; a transfer may join them elsewhere)."""
        self.open = False

    def _relay(self, payload: bytes, source: FrameSink, target: FrameSink,
               muted: bool) -> None:
        if not self.open:
            return
        source_law, target_law = source.encoding, target.encoding
        if muted:
            self.stats.muted += 1
            payload = g711.silence(target_law, len(payload))
            target.send_frame(payload)
            return
        if source_law == target_law:
            self.stats.passed_through += 1
        else:
            payload = g711.transcode(payload, source_law, target_law)
            self.stats.transcoded += 1
        target.send_frame(payload)


def _check_law(sink: FrameSink) -> None:
    if sink.encoding not in ("pcmu", "pcma"):
        raise ValueError(f"a bridge joins G.711 legs, not {sink.encoding!r}")
