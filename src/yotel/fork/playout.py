"""The AI's audio queue (PRODUCT.md §6.4-§6.5): G.711 of any length in, one 20 ms frame out per
clock tick, marks answered when playout reaches them, `clear` within one tick. No I/O."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

FRAME = 160
MAX_BYTES = 60 * 8000  # 60 s of G.711
MAX_MARKS = 100


@dataclass
class _Mark:
    name: str
    position: int  # byte offset in the stream at which it fires


@dataclass
class Playout:
    queue: bytearray = field(default_factory=bytearray)
    played: int = 0  # bytes played since the start
    received: int = 0  # bytes accepted since the start
    marks: deque[_Mark] = field(default_factory=deque)
    started: bool = False

    def append(self, audio: bytes) -> int:
        """Queue AI audio; returns how many bytes were dropped over the 60 s cap."""
        room = MAX_BYTES - len(self.queue)
        accepted = audio[: max(room, 0)]
        self.queue += accepted
        self.received += len(accepted)
        return len(audio) - len(accepted)

    def add_mark(self, name: str) -> list[tuple[str, str, int]]:
        """Tie a mark to the audio received so far; replies due now (empty queue → at once).
        Raises OverflowError beyond 100 outstanding marks."""
        if not self.queue:
            return [(name, "playout", self.played_ms)]
        if len(self.marks) >= MAX_MARKS:
            raise OverflowError("more than 100 marks outstanding")
        self.marks.append(_Mark(name, self.received))
        return []

    def next_frame(self) -> tuple[bytes | None, list[tuple[str, str, int]]]:
        """The frame for this tick (None: nothing to play) and the marks it reached. Playout
        starts once a full frame is queued, and a trailing partial frame plays when the
        stream ends (padded by the caller with silence)."""
        if not self.started and len(self.queue) < FRAME:
            return None, self._due()
        if not self.queue:
            self.started = False
            return None, self._due()
        self.started = True
        frame = bytes(self.queue[:FRAME])
        del self.queue[:FRAME]
        self.played += len(frame)
        return frame, self._due()

    def _due(self) -> list[tuple[str, str, int]]:
        due = []
        while self.marks and self.marks[0].position <= self.played:
            due.append((self.marks.popleft().name, "playout", self.played_ms))
        return due

    def clear(self) -> tuple[int, int, list[tuple[str, str, int]]]:
        """Drop everything queued: (played_ms, discarded_ms, marks answered `cleared`)."""
        discarded = len(self.queue)
        self.received -= discarded
        self.queue.clear()
        self.started = False
        cleared = [(m.name, "cleared", self.played_ms) for m in self.marks]
        self.marks.clear()
        return self.played_ms, discarded // 8, cleared

    def clear_marks(self) -> None:
        self.marks.clear()

    @property
    def played_ms(self) -> int:
        return self.played // 8
