"""The caller timeline (PRODUCT.md §6.3): one 160-byte frame per 20 ms after answer, frame k
covering 20k..20k+20 ms, gaps filled with G.711 silence. No I/O; time is passed in.

Latency matters more than smoothing here: a packet for the next slot is emitted the moment it
arrives (`push`); the media clock (`tick`) only fills a slot whose packet is more than
`grace_frames` overdue (lost, hold, muted caller).

Packets are placed by RTP timestamp (RFC 3550 §5.1: 32-bit, wrapping, 8000 Hz for G.711 so 160
ticks per 20 ms frame). The first packet is anchored to the slot of its arrival time. The anchor
moves when the stream says it must:
- a packet that is late but carries the newest timestamp seen is not a reordered straggler: the
  sender's clock fell behind ours (clock drift, timestamps frozen across hold). It is re-anchored
  to the next slot instead of being dropped, as would every packet after it.
- a packet whose slot is far ahead of both the timeline and the wall clock means the sender
  restarted its timestamps (RFC 3550 §5.1 allows a random base per SSRC); it is re-anchored
  rather than answered with seconds of invented silence.
- a packet whose slot would put the timeline more than `max_lead_frames` ahead of the wall clock
  (the burst after a network stall, whose slots were already filled with silence; a sender whose
  clock runs fast) is dropped and the next packet takes its slot, so frame k stays within
  `max_lead_frames` of 20k ms after answer and an AI counting frames keeps media time.
"""

from __future__ import annotations

from yotel.domain.audio import FRAME_S
from yotel.domain.audio import G711_FRAME_BYTES as FRAME  # = RTP timestamp ticks per frame

GRACE_FRAMES = 2
MAX_AHEAD_FRAMES = 25  # 500 ms beyond "now": a timestamp jump, not a gap
MAX_LEAD_FRAMES = 5  # how far (100 ms) emitted frames may run ahead of the wall clock
_WRAP = 1 << 32
_HALF = 1 << 31
SILENCE = {"pcmu": b"\xff" * FRAME, "pcma": b"\xd5" * FRAME}  # G.711 zero (ITU-T G.711 tables)


def silence_frame(encoding: str) -> bytes:
    """20 ms of G.711 silence in `encoding` ("pcmu" or "pcma")."""
    try:
        return SILENCE[encoding]
    except KeyError:
        raise ValueError(f"unknown G.711 encoding {encoding!r}") from None


def _newer(a: int, b: int) -> bool:
    """RFC 3550 §A.1 style serial comparison of 32-bit timestamps: is `a` after `b`?"""
    return 0 < (a - b) % _WRAP < _HALF


class CallerTimeline:
    """Turns caller RTP packets into the fork's continuous frame sequence."""

    def __init__(self, silence: bytes, start: float, *, grace_frames: int = GRACE_FRAMES,
                 max_lead_frames: int = MAX_LEAD_FRAMES) -> None:
        if len(silence) != FRAME:
            raise ValueError("silence must be one 160-byte frame")
        self.silence = silence
        self.start = start
        self.grace_frames = grace_frames
        self.max_lead_frames = max_lead_frames
        self.next_slot = 0  # the next frame index to emit
        self._base_ts: int | None = None  # RTP timestamp of slot 0
        self._newest_ts = 0
        self.filled = 0  # silence frames inserted
        self.late = 0  # packets dropped for arriving after their slot was emitted
        self.reanchored = 0
        self.trimmed = 0  # packets dropped to pull the timeline back towards the wall clock

    def push(self, timestamp: int, payload: bytes, now: float) -> list[bytes]:
        """A caller packet; returns the frames to send now, in order (possibly none)."""
        timestamp &= _WRAP - 1
        if self._base_ts is None:
            self._anchor(timestamp, max(self._slot_at(now), self.next_slot))
            self._newest_ts = timestamp
        slot, now_slot = self._slot_of(timestamp), self._slot_at(now)
        newest = _newer(timestamp, self._newest_ts) or timestamp == self._newest_ts
        if slot < self.next_slot:
            if not newest or timestamp == self._newest_ts:
                self.late += 1  # a straggler or duplicate: its slot is already out
                return []
            slot = self._reanchor(timestamp, self.next_slot)
        elif slot > max(self.next_slot, now_slot) + MAX_AHEAD_FRAMES:
            slot = self._reanchor(timestamp, max(self.next_slot, now_slot))
        if newest:
            self._newest_ts = timestamp
        if slot > now_slot + self.max_lead_frames:
            self.trimmed += 1  # the next packet takes this one's slot
            self._anchor((timestamp + len(payload)) % _WRAP, max(self.next_slot, now_slot))
            return []
        out = self._silence_until(slot)
        chunks = self._split(payload)
        out.extend(chunks)
        self.next_slot = slot + len(chunks)
        return out

    def tick(self, now: float) -> list[bytes]:
        """Silence for slots whose packet is overdue; call once per media-clock tick."""
        return self._silence_until(self._slot_at(now) - self.grace_frames, advance=True)

    def _silence_until(self, slot: int, *, advance: bool = False) -> list[bytes]:
        count = slot - self.next_slot
        if count <= 0:
            return []
        self.filled += count
        if advance:
            self.next_slot = slot
        return [self.silence] * count

    def _split(self, payload: bytes) -> list[bytes]:
        # ptime is negotiated at 20 ms (one frame); a longer packet covers several slots, a
        # short or ragged one is padded with silence so frames stay exactly 160 bytes.
        if len(payload) == FRAME:
            return [payload]
        chunks = [payload[i:i + FRAME] for i in range(0, len(payload), FRAME)] or [b""]
        chunks[-1] = (chunks[-1] + self.silence)[:FRAME]
        return chunks

    def _anchor(self, timestamp: int, slot: int) -> None:
        self._base_ts = (timestamp - slot * FRAME) % _WRAP

    def _reanchor(self, timestamp: int, slot: int) -> int:
        self.reanchored += 1
        self._anchor(timestamp, slot)
        return slot

    def _slot_of(self, timestamp: int) -> int:
        assert self._base_ts is not None
        offset = (timestamp - self._base_ts) % _WRAP
        if offset >= _HALF:  # before the anchor
            return -1
        return offset // FRAME

    def _slot_at(self, now: float) -> int:
        return max(int((now - self.start) / FRAME_S), 0)
