"""Counters, rate limits and idempotency records: in-process or Redis (PRODUCT.md §9)."""

from yotel.counters.base import Counters, CountersUnavailableError, RateLimitResult
from yotel.counters.memory import MemoryCounters


def counters_from_url(redis_url: str | None) -> Counters:
    """In-process counters when no URL is given (one node), Redis otherwise."""
    if not redis_url:
        return MemoryCounters()
    from yotel.counters.redis import RedisCounters

    return RedisCounters.from_url(redis_url)


__all__ = ["Counters", "CountersUnavailableError", "MemoryCounters", "RateLimitResult",
           "counters_from_url"]
