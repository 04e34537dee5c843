"""The caller timeline (PRODUCT.md §6.3): one 160-byte frame per 20 ms after answer, frame k
covering 20k..20k+20 ms, gaps filled with silence. No I/O.

Latency matters more than smoothing here: a packet for the next slot is emitted the moment it
arrives; the clock only fills a slot whose packet is more than `GRACE_FRAMES` late.
"""

from __future__ import annotations

FRAME = 160
GRACE_FRAMES = 2
MAX_GAP_FRAMES = 50 * 60  # a jump of over a minute is a new stream, not a minute of silence


class CallerTimeline:
    def __init__(self, silence: bytes, start: float) -> None:
        self.silence = silence
        self.start = start
        self.next_slot = 0  # the next frame index to emit
        self._base_ts: int | None = None
        self.filled = 0  # silence frames inserted
        self.late = 0  # packets dropped for arriving after their slot was filled

    def push(self, timestamp: int, payload: bytes, now: float) -> list[bytes]:
        """A caller packet; returns the frames to send now, in order."""
        if self._base_ts is None:
            # The first packet belongs to the slot of its arrival time.
            self._base_ts = (timestamp - self._slot_at(now) * FRAME) & 0xFFFFFFFF
        offset = (timestamp - self._base_ts) & 0xFFFFFFFF
        if offset >= 0x80000000:  # before the base: very late
            self.late += 1
            return []
        slot = offset // FRAME
        if slot < self.next_slot:
            self.late += 1
            return []
        if slot - self.next_slot > MAX_GAP_FRAMES:  # the peer restarted its timestamps
            self._base_ts = (timestamp - self.next_slot * FRAME) & 0xFFFFFFFF
            slot = self.next_slot
        frames = [self.silence] * (slot - self.next_slot)
        self.filled += len(frames)
        frames.append(payload if len(payload) == FRAME else _fit(payload, self.silence))
        self.next_slot = slot + 1
        return frames

    def tick(self, now: float) -> list[bytes]:
        """Silence for slots whose packet is overdue (lost, held, muted)."""
        due = self._slot_at(now) - GRACE_FRAMES
        if due <= self.next_slot:
            return []
        frames = [self.silence] * (due - self.next_slot)
        self.filled += len(frames)
        self.next_slot = due
        return frames

    def _slot_at(self, now: float) -> int:
        return max(int((now - self.start) / 0.02), 0)


def _fit(payload: bytes, silence: bytes) -> bytes:
    return (payload + silence)[:FRAME]
