"""The RTP port pool: even ports (RFC 3550 §11), one per leg, RTCP on the odd one above."""

from __future__ import annotations

import random
from collections import deque


class PortsExhausted(RuntimeError):  # noqa: N818 - reads as the condition
    """Every port in the range is in use."""


class RtpPortPool:
    """Hands out the even ports of [minimum, maximum]; a released port goes to the back.

    Reusing a port last keeps a stale peer that still sends to a just-closed leg away from the
    next call. A port the OS refused (another process holds it) is `release`d too, so it is only
    tried again after every other port.
    """

    def __init__(self, minimum: int, maximum: int) -> None:
        if not 0 < minimum <= maximum <= 65535:
            raise ValueError(f"bad RTP port range {minimum}-{maximum}")
        first = minimum + (minimum % 2)
        ports = list(range(first, maximum, 2))  # the odd port above each must fit: RTCP
        if not ports:
            raise ValueError(f"no even port in {minimum}-{maximum}")
        random.shuffle(ports)
        self.minimum, self.maximum = minimum, maximum
        self._free = deque(ports)
        self._used: set[int] = set()

    def allocate(self) -> int:
        if not self._free:
            raise PortsExhausted(
                f"all {len(self._used)} RTP ports in {self.minimum}-{self.maximum} are in use")
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)

    @property
    def available(self) -> int:
        return len(self._free)
