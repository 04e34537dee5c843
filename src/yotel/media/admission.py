"""Admission control for inbound INVITEs: refuse what cannot be served before anything is
allocated, so a flood from one source costs a 503 and nothing else. Pure: time is passed in.

A source is the INVITE's IP address. It may have at most `pending_per_source` INVITEs not yet
confirmed (answered and ACKed, or ended) and start at most `rate_per_source` calls a second; the
node as a whole `pending_total` and `rate_total`. A share of the total (`reserve`) is kept for
sources that have completed a call before, so many spoofed sources together still cannot lock
a real caller out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

Refusal = Literal["source_pending", "total_pending", "source_rate", "total_rate"]
TRUST_S = 3600.0  # a source that completed a call stays trusted this long


@dataclass(frozen=True)
class AdmissionLimits:
    pending_per_source: int = 8
    pending_total: int = 256
    rate_per_source: float = 5.0  # new calls per second, token bucket
    burst_per_source: float = 10.0
    rate_total: float = 100.0
    burst_total: float = 200.0
    reserve: float = 0.2  # share of pending_total only trusted sources may use
    retry_after_s: int = 5


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class Admission:
    limits: AdmissionLimits = field(default_factory=AdmissionLimits)
    pending: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    admitted: int = 0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _total: _Bucket | None = None
    _trusted: dict[str, float] = field(default_factory=dict)

    def admit(self, source: str, now: float) -> Refusal | None:
        """None when the INVITE may proceed (then `release` it exactly once), else why not."""
        refusal = self._check(source, now)
        if refusal is not None:
            self.refused[refusal] += 1
            return refusal
        self.pending[source] += 1
        self.admitted += 1
        return None

    def _check(self, source: str, now: float) -> Refusal | None:
        limits = self.limits
        if self.pending[source] >= limits.pending_per_source:
            return "source_pending"
        total = sum(self.pending.values())
        cap = limits.pending_total
        if not self._is_trusted(source, now):
            cap = int(cap * (1.0 - limits.reserve))
        if total >= cap:
            return "total_pending"
        if not self._bucket(source, now).take(now):
            return "source_rate"
        if not self._node_bucket(now).take(now):
            return "total_rate"
        return None

    def release(self, source: str, *, completed: bool, now: float) -> None:
        """The INVITE is settled: confirmed (`completed`: the source becomes trusted) or not."""
        if self.pending[source] <= 1:
            del self.pending[source]
        else:
            self.pending[source] -= 1
        if completed:
            self._trusted[source] = now
        if len(self._buckets) > 4 * self.limits.pending_total:
            self._forget_idle(now)

    def _bucket(self, source: str, now: float) -> _Bucket:
        bucket = self._buckets.get(source)
        if bucket is None:
            limits = self.limits
            bucket = self._buckets[source] = _Bucket(limits.rate_per_source,
                                                     limits.burst_per_source,
                                                     limits.burst_per_source, now)
        return bucket

    def _node_bucket(self, now: float) -> _Bucket:
        if self._total is None:
            self._total = _Bucket(self.limits.rate_total, self.limits.burst_total,
                                  self.limits.burst_total, now)
        return self._total

    def _is_trusted(self, source: str, now: float) -> bool:
        seen = self._trusted.get(source)
        return seen is not None and now - seen < TRUST_S

    def _forget_idle(self, now: float) -> None:
        """Full buckets of sources with nothing pending carry no state worth keeping."""
        full = [s for s, b in self._buckets.items()
                if s not in self.pending and b.tokens + (now - b.at) * b.rate >= b.burst]
        for source in full:
            del self._buckets[source]
        stale = [s for s, seen in self._trusted.items() if now - seen >= TRUST_S]
        for source in stale:
            del self._trusted[source]
