"""The AI's audio queue (PRODUCT.md §6.4-§6.5). No I/O.

- G.711 of any length in (`append`); one 20 ms frame out per media-clock tick (`next_frame`).
  Playout starts on the first tick that finds a full frame queued. A trailing partial frame is
  held for one tick (the rest is usually in flight) and then played padded with silence, so an
  AI that streams ragged chunks in real time is not chopped into silence-padded frames.
- Cap: 60 s queued; the excess of an append is dropped and reported (a `warning` frame).
- Marks are tied to the audio received so far and answered `playout` when playout reaches them
  (at once when nothing is queued), in order. At most 100 are outstanding: the 101st raises
  `OverflowError` (the fork answers it with an `error` frame, code `too_many_marks`, and the
  mark is never answered).
- `clear` drops everything queued and answers pending marks `cleared`.
- Periods the media clock skipped (a stalled node) make playout later than the AI meant it.
  Up to `MAX_LATE_MS` of that is kept, so a hiccup loses no words; beyond it, the frames that
  were due meanwhile are dropped from the head (`fall_behind`) and count as played (their time
  has passed), so a node that keeps skipping ticks does not make the AI's voice later and
  later. An empty queue is on time again.
- `played_ms` everywhere is the AI audio played on this session so far (cumulative), so an AI
  can line marks and clears up against what it sent.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from yotel.domain.audio import G711_FRAME_BYTES as FRAME
from yotel.domain.audio import SAMPLE_RATE
from yotel.fork.frames import Cleared, MarkEvent

MAX_BYTES = 60 * SAMPLE_RATE  # 60 s of 8 kHz G.711
MAX_MARKS = 100
MAX_LATE_MS = 200  # delay from skipped ticks kept before the due frames are dropped


@dataclass(frozen=True, slots=True)
class _Mark:
    name: str
    position: int  # byte offset in the received stream at which it fires


class Playout:
    """One session's playout queue."""

    def __init__(self, silence: bytes = b"\xff" * FRAME, *, max_bytes: int = MAX_BYTES,
                 max_marks: int = MAX_MARKS, max_late_ms: int = MAX_LATE_MS) -> None:
        self.silence = silence
        self.max_bytes = max_bytes
        self.max_marks = max_marks
        self.queue = bytearray()  # deleting from the front of a bytearray is amortised O(1)
        self.played = 0  # real (not padding) bytes played since the start
        self.received = 0  # bytes accepted since the start, minus those cleared
        self.marks: deque[_Mark] = deque()
        self._held_partial = False
        self._max_late = max_late_ms * 8  # bytes
        self._late = 0  # bytes of delay from skipped periods since the queue was last empty

    @property
    def played_ms(self) -> int:
        return self.played // 8

    @property
    def queued_ms(self) -> int:
        return len(self.queue) // 8

    def append(self, audio: bytes) -> int:
        """Queue AI audio; returns how many bytes were dropped over the cap."""
        room = max(self.max_bytes - len(self.queue), 0)
        accepted = audio if len(audio) <= room else audio[:room]
        self.queue += accepted
        self.received += len(accepted)
        return len(audio) - len(accepted)

    def add_mark(self, name: str) -> list[MarkEvent]:
        """Tie a mark to the audio received so far; returns the answers due now."""
        if not self.queue:
            return [MarkEvent(name, "playout", self.played_ms)]
        if len(self.marks) >= self.max_marks:
            raise OverflowError(f"more than {self.max_marks} marks outstanding")
        self.marks.append(_Mark(name, self.received))
        return []

    def next_frame(self) -> tuple[bytes | None, list[MarkEvent]]:
        """This tick's frame (None: nothing to play) and the marks playout reached."""
        queued = len(self.queue)
        if queued >= FRAME:
            frame = bytes(self.queue[:FRAME])
            del self.queue[:FRAME]
            self.played += FRAME
            self._held_partial = False
            return frame, self._due()
        if queued and self._held_partial:
            frame = bytes(self.queue) + self.silence[queued:]
            self.queue.clear()
            self.played += queued
            self._held_partial = False
            return frame, self._due()
        self._held_partial = queued > 0
        self._late = 0  # nothing (whole) queued: playout is on time again
        return None, self._due()

    def fall_behind(self, frames: int) -> tuple[int, list[MarkEvent]]:
        """The clock skipped `frames` periods: the bytes dropped to keep playout within
        MAX_LATE_MS of the AI's timing, and the marks they pass."""
        if not self.queue:
            self._late = 0
            return 0, []
        self._late += frames * FRAME
        drop = min(self._late - self._max_late, len(self.queue))
        if drop <= 0:
            return 0, []
        del self.queue[:drop]
        self.played += drop
        self._late -= drop
        return drop, self._due()

    def _due(self) -> list[MarkEvent]:
        due: list[MarkEvent] = []
        marks = self.marks
        while marks and marks[0].position <= self.played:
            due.append(MarkEvent(marks.popleft().name, "playout", self.played_ms))
        return due

    def clear(self) -> tuple[Cleared, list[MarkEvent]]:
        """Drop everything queued: the `cleared` answer and the marks answered `cleared`."""
        discarded = len(self.queue)
        self.received -= discarded
        self.queue.clear()
        self._held_partial = False
        self._late = 0
        marks = [MarkEvent(m.name, "cleared", self.played_ms) for m in self.marks]
        self.marks.clear()
        return Cleared(self.played_ms, discarded // 8), marks

    def clear_marks(self) -> None:
        """Forget pending marks without answering them."""
        self.marks.clear()
