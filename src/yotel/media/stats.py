"""Cheap latency histograms and packet counters for the media path (read by the benchmark and
/metrics).

Fixed 0.1 ms buckets up to 100 ms (then one overflow bucket): recording a sample is one
multiplication and one list increment, so it can sit on the per-packet path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BUCKET_S = 0.0001
BUCKETS = 1000
_PER_SECOND = 1 / BUCKET_S


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (BUCKETS + 1))
    total: int = 0

    def record(self, seconds: float) -> None:
        index = int(seconds * _PER_SECOND)
        if index >= BUCKETS:
            index = BUCKETS
        elif index < 0:
            index = 0
        self.counts[index] += 1
        self.total += 1

    def quantile_ms(self, q: float) -> float | None:
        """The upper edge of the bucket holding quantile `q` (None without samples)."""
        if not self.total:
            return None
        rank, seen = q * self.total, 0
        for index, count in enumerate(self.counts):
            seen += count
            if count and seen >= rank:
                return round((index + 1) * BUCKET_S * 1000, 2)
        return None

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total


@dataclass
class PacketCounters:
    rtp_in: int = 0  # caller audio packets handed to the media engine
    rtp_out: int = 0  # frames sent to callers (AI audio, prompts, silence)
    ai_frames_played: int = 0  # of which AI audio
    ai_frames_dropped_late: int = 0  # AI audio dropped after skipped ticks (fork/playout.py)


@dataclass
class MediaStats:
    rtp_to_ws: Histogram = field(default_factory=Histogram)
    ws_to_rtp: Histogram = field(default_factory=Histogram)
    tick: Histogram = field(default_factory=Histogram)  # the clock's work per tick, all calls
    packets: PacketCounters = field(default_factory=PacketCounters)
    calls_started: int = 0
    calls_ended: int = 0
    screened_out: int = 0  # inbound INVITEs refused by the screen (e.g. unknown DID)

    def summary(self) -> dict[str, Any]:
        return {
            "rtp_to_ws_p50_ms": self.rtp_to_ws.quantile_ms(0.5),
            "rtp_to_ws_p99_ms": self.rtp_to_ws.quantile_ms(0.99),
            "ws_to_rtp_p50_ms": self.ws_to_rtp.quantile_ms(0.5),
            "ws_to_rtp_p99_ms": self.ws_to_rtp.quantile_ms(0.99),
            "tick_p50_ms": self.tick.quantile_ms(0.5),
            "tick_p99_ms": self.tick.quantile_ms(0.99),
            "rtp_to_ws_samples": self.rtp_to_ws.total,
            "ws_to_rtp_samples": self.ws_to_rtp.total,
            "calls_started": self.calls_started,
            "calls_ended": self.calls_ended,
            "screened_out": self.screened_out,
            **{f"packets_{name}": value for name, value in vars(self.packets).items()},
        }
