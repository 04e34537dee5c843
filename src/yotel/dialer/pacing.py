"""A campaign's `calls_per_second` as a token bucket, pure: the caller passes the time.

The bucket starts with one token (a campaign's first call goes at once, without a burst of a
whole second's worth) and holds at most `burst_s` seconds of calls, so a dialer that was busy
for a moment catches up by that much and no more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_BURST_S = 1.0


@dataclass
class TokenBucket:
    rate: float  # tokens per second (> 0)
    now: float  # the clock reading of the last refill
    tokens: float = 1.0
    burst_s: float = DEFAULT_BURST_S

    @property
    def capacity(self) -> float:
        return max(1.0, self.rate * self.burst_s)

    def _refill(self, now: float) -> None:
        if now > self.now:
            self.tokens = min(self.capacity, self.tokens + (now - self.now) * self.rate)
            self.now = now

    def available(self, now: float) -> int:
        """Whole calls that may start at `now`."""
        self._refill(now)
        return math.floor(self.tokens + 1e-9)

    def take(self, count: int, now: float) -> None:
        """Spend `count` tokens (at most what `available` said)."""
        self._refill(now)
        self.tokens = max(0.0, self.tokens - count)

    def wait_s(self, now: float) -> float:
        """Seconds until the next whole token (0 when one is there)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate

    def set_rate(self, rate: float, now: float) -> None:
        """A campaign's pacing changed: tokens earned so far are kept, within the new cap."""
        self._refill(now)
        self.rate = rate
        self.tokens = min(self.tokens, self.capacity)
