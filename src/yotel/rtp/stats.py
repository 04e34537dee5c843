"""Per-session RTP counters and receive-side sequence accounting (RFC 3550 §6.4.1, appendix A.1).

`SequenceTracker.update` is on the receive hot path: a few integer operations per packet and no
allocation. A 64-packet window of seen sequence numbers tells a duplicate (dropped) from a late,
reordered packet (delivered, and no longer counted lost).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DROPOUT = 3000  # RFC 3550 A.1: a larger jump forward is a restart, not loss
WINDOW = 64
_WINDOW_MASK = (1 << WINDOW) - 1
IN_ORDER, LATE, DUPLICATE, STALE = 0, 1, 2, 3


@dataclass
class RtpStats:
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0  # accepted audio and telephone-event packets
    bytes_received: int = 0
    packets_lost: int = 0  # sequence gaps, less the late packets that filled them
    late: int = 0  # reordered packets delivered after a later one
    duplicates: int = 0  # dropped
    stale: int = 0  # too old to place; dropped
    restarts: int = 0  # sequence jumps and SSRC changes (a new stream)
    malformed: int = 0
    foreign: int = 0  # another source's stream while latched; dropped
    callback_errors: int = 0  # on_audio / on_dtmf raised; the socket carries on
    rtcp: int = 0
    unexpected_pt: int = 0
    dtmf_digits_received: int = 0
    dtmf_digits_sent: int = 0


class SequenceTracker:
    """Classifies each received sequence number and keeps `stats` loss/late/duplicate counts."""

    __slots__ = ("_bad", "_highest", "_seen", "base", "cycles", "received", "stats")

    def __init__(self, stats: RtpStats) -> None:
        self.stats = stats
        self._highest = -1
        self._seen = 0  # bit k set: highest - k was received
        self._bad = -1
        # RFC 3550 A.1/A.3, for reception reports: this stream's first sequence number, the
        # wraps of the highest one (in units of 65536), the packets delivered since the start.
        self.base = self.cycles = self.received = 0

    @property
    def extended_highest(self) -> int:
        """The extended highest sequence number received (RFC 3550 §6.4.1), -1 before any."""
        return self.cycles + self._highest if self._highest >= 0 else -1

    def reset(self) -> None:
        """A new stream (SSRC change): the next packet starts the count again."""
        self._highest = -1

    def update(self, seq: int) -> int:
        """IN_ORDER or LATE (deliver it), DUPLICATE or STALE (drop it)."""
        highest = self._highest
        if highest < 0:
            return self._restart(seq, count=False)
        ahead = (seq - highest) & 0xFFFF
        if 0 < ahead < 0x8000:
            if ahead > MAX_DROPOUT:
                return self._restart(seq, count=True)
            self.stats.packets_lost += ahead - 1
            if seq < highest:  # the 16-bit number wrapped
                self.cycles += 0x10000
            self.received += 1
            self._seen = ((self._seen << ahead) | 1) & _WINDOW_MASK
            self._highest = seq
            return IN_ORDER
        behind = (highest - seq) & 0xFFFF
        if behind < WINDOW:
            bit = 1 << behind
            if self._seen & bit:
                self.stats.duplicates += 1
                return DUPLICATE
            self._seen |= bit
            self.stats.packets_lost -= 1
            self.stats.late += 1
            self.received += 1
            return LATE
        return self._stale(seq)

    def _stale(self, seq: int) -> int:
        # RFC 3550 A.1: two consecutive packets far behind mean the sender restarted.
        if seq == self._bad:
            return self._restart(seq, count=True)
        self._bad = (seq + 1) & 0xFFFF
        self.stats.stale += 1
        return STALE

    def _restart(self, seq: int, *, count: bool) -> int:
        if count:
            self.stats.restarts += 1
        self._highest, self._seen, self._bad = seq, 1, -1
        self.base, self.cycles, self.received = seq, 0, 1
        return IN_ORDER
