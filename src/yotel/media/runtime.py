"""What a call borrows from its engine: the clock, the stats, where recordings go, and the
engine's task spawner for work that must outlive the call's own scope (a BYE to a slow peer)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yotel.domain.audio import SUBPROTOCOLS
from yotel.media.clock import MediaClock
from yotel.media.stats import MediaStats

if TYPE_CHECKING:
    from yotel.media.call import Call


@dataclass
class Runtime:
    clock: MediaClock
    stats: MediaStats
    recordings_dir: Path
    forget: Callable[[Call], None]
    spawn: Callable[[Coroutine[Any, Any, Any]], None]  # engine-owned: outlives the call's scope
    allow_insecure: bool = False  # the node's policy caps every fork's (PRODUCT.md §2)
    subprotocols: tuple[str, ...] = SUBPROTOCOLS
