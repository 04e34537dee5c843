"""When and how long the SDK waits before trying a request again (a frozen value).

A request is retried only if sending it twice cannot do something twice: a safe or idempotent
method (GET, HEAD, OPTIONS, PUT, DELETE), or a POST/PATCH carrying an `Idempotency-Key` (the
server replays the first answer). Only failures that may pass are retried: 429 (after the
server's `retry_after_s` / `Retry-After`), 5xx, and connection errors. Other 4xx are final.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from yotel.client.errors import APIConnectionError, RateLimitedError, ServerError, YotelError

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_MAX_RETRIES = 2


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: `initial_delay_s * 2**attempt`, capped at
    `max_delay_s`, spread by ±`jitter` (a fraction) so clients do not retry in lockstep. A 429
    whose server asks for a longer wait than `max_delay_s` is not retried: the caller decides."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.initial_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("retry counts and delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def next_delay_s(self, error: YotelError, attempt: int, *, idempotent: bool) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to give up."""
        if attempt >= self.max_retries or not idempotent or not retryable(error):
            return None
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            wait = max(error.retry_after_s, 0.0)
            return wait if wait <= self.max_delay_s else None
        return self.backoff_s(attempt)

    def backoff_s(self, attempt: int) -> float:
        base: float = min(self.initial_delay_s * 2.0 ** attempt, self.max_delay_s)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


def retryable(error: YotelError) -> bool:
    return isinstance(error, RateLimitedError | ServerError | APIConnectionError)


def is_idempotent(method: str, idempotency_key: str | None) -> bool:
    return method.upper() in IDEMPOTENT_METHODS or bool(idempotency_key)
