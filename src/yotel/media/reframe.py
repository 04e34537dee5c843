"""Re-cut a peer's RTP payloads into 20 ms (160-byte) G.711 frames.

The audio fork's timeline speaks 20 ms frames (PRODUCT.md §6.3), but a peer may send another
ptime (sipp's `g711a.pcap` is 30 ms, 240 bytes). 160-byte packets pass straight through with no
copy; other sizes are buffered and cut, each frame keeping the RTP timestamp of its first sample
(RFC 3550 §5.1: one timestamp unit per sample at 8 kHz).
"""

from __future__ import annotations

from yotel.domain.audio import G711_FRAME_BYTES as FRAME


class Reframer:
    def __init__(self) -> None:
        self._pending = bytearray()
        self._pending_ts = 0

    @property
    def idle(self) -> bool:
        """Nothing buffered: a 160-byte packet may bypass `push`."""
        return not self._pending

    def push(self, timestamp: int, payload: bytes) -> list[tuple[int, bytes]]:
        """(timestamp, 160-byte frame) pairs ready now, in order."""
        pending = self._pending
        if pending and (self._pending_ts + len(pending)) & 0xFFFFFFFF != timestamp:
            pending.clear()  # a gap or a new stream: the leftover can never be completed
        if not pending:
            if len(payload) == FRAME:
                return [(timestamp, payload)]
            self._pending_ts = timestamp
        pending += payload
        frames = []
        while len(pending) >= FRAME:
            frames.append((self._pending_ts, bytes(pending[:FRAME])))
            del pending[:FRAME]
            self._pending_ts = (self._pending_ts + FRAME) & 0xFFFFFFFF
        return frames
