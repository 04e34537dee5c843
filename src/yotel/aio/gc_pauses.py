"""How long the garbage collector holds the event loop: per generation, the collections and the
seconds they took, and the longest pause (`GET /metrics`, `yotel_gc_*`).

One process-wide hook (`gc.callbacks`), installed by `yotel serve`: a full collection stops
everything the node's one loop carries (SIP, the 20 ms media clock, the API), so its pauses are
the first thing to read when ticks are skipped or the API's tail grows.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

GENERATIONS = 3


@dataclass
class GcPauses:
    collections: list[int] = field(default_factory=lambda: [0] * GENERATIONS)
    seconds: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    max_s: list[float] = field(default_factory=lambda: [0.0] * GENERATIONS)
    _started: float = 0.0

    def copy(self) -> GcPauses:
        return GcPauses(list(self.collections), list(self.seconds), list(self.max_s))

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = info["generation"]
        took = time.perf_counter() - self._started
        self.collections[generation] += 1
        self.seconds[generation] += took
        self.max_s[generation] = max(self.max_s[generation], took)


_installed: GcPauses | None = None


def watch_gc() -> GcPauses:
    """The process's GC pause counters, hooked on first use."""
    global _installed
    if _installed is None:
        _installed = GcPauses()
        gc.callbacks.append(_installed.on_gc)
    return _installed
