"""When and how long the SDK waits before trying a request again (a frozen value)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from yotel.client.errors import APIConnectionError, RateLimitedError, ServerError, YotelError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def should_retry(self, error: YotelError, attempt: int, *, idempotent: bool) -> bool:
        """429 was not processed, so any request may be retried; a 5xx or a dropped connection
        may have been, so only idempotent ones (safe methods, or a request with an
        Idempotency-Key) are. Other 4xx are final."""
        if attempt >= self.max_retries:
            return False
        if isinstance(error, RateLimitedError):
            return True
        return idempotent and isinstance(error, ServerError | APIConnectionError)

    def delay_s(self, error: YotelError, attempt: int) -> float:
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return min(max(error.retry_after_s, 0.0), self.max_delay_s)
        base: float = min(self.initial_delay_s * 2.0 ** attempt, self.max_delay_s)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


def is_idempotent(method: str, headers: dict[str, str]) -> bool:
    return method.upper() in IDEMPOTENT_METHODS or "Idempotency-Key" in headers
