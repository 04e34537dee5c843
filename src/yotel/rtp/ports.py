"""The RTP port pool: even ports (RFC 3550 §11), one per leg, RTCP on the odd one above."""

from __future__ import annotations

import random


class PortsExhausted(RuntimeError):  # noqa: N818 - reads as the condition
    """Every port in the range is in use."""


class RtpPortPool:
    def __init__(self, minimum: int, maximum: int) -> None:
        first = minimum + (minimum % 2)
        self._free = list(range(first, maximum, 2))
        if not self._free:
            raise ValueError(f"no even port in {minimum}-{maximum}")
        random.shuffle(self._free)  # spread legs so a stale peer rarely hits a reused port
        self._used: set[int] = set()

    def allocate(self) -> int:
        if not self._free:
            raise PortsExhausted("no free RTP port")
        port = self._free.pop()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.insert(0, port)

    @property
    def in_use(self) -> int:
        return len(self._used)
