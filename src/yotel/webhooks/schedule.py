"""When to try a delivery again (PRODUCT.md §7): a frozen value, pure functions.

`delays_s[n]` is the wait before attempt n+1: the first attempt goes immediately, then 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 10 h; after the last, the delivery is dead. Jitter spreads the
retries of many deliveries that failed together (a receiver coming back up is not hit by all
of them in the same second)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from yotel.settings import DEFAULT_WEBHOOK_DELAYS_S as DEFAULT_DELAYS_S

DEFAULT_JITTER = 0.1  # ± 10 %
DEFAULT_DISABLE_AFTER_S = 5 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    delays_s: tuple[float, ...] = DEFAULT_DELAYS_S
    jitter: float = DEFAULT_JITTER

    @property
    def max_attempts(self) -> int:
        return len(self.delays_s)

    def next_delay(self, attempts: int, rand: random.Random | None = None) -> float | None:
        """Seconds to wait after `attempts` failed attempts, or None when none is left."""
        if attempts >= self.max_attempts:
            return None
        base = self.delays_s[attempts]
        spread = base * self.jitter
        return max(0.0, base + (rand or random).uniform(-spread, spread))
