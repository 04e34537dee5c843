"""What the API's routes share for the life of the app: built in the lifespan, read by the
dependencies in `deps.py`. Components get small values here, never the Settings object."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol, cast

from yotel.db.engine import Database
from yotel.tenancy.auth import Authenticator
from yotel.voice_agents.service import VoiceAgentService


class CounterBackend(Protocol):
    """The part of `yotel.counters.Counters` the API edge uses today."""

    async def get(self, key: str) -> int: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Runtime:
    db: Database
    counters: CounterBackend
    authenticator: Authenticator
    voice_agents: VoiceAgentService
    allow_insecure_urls: bool
    redis_configured: bool


def counters_from_url(redis_url: str | None) -> CounterBackend:
    """`yotel.counters.counters_from_url`: in-process counters, or Redis when a URL is given.

    Looked up at run time because the counters package is built alongside this one
    (docs/architecture.md, "Counters interface").
    """
    module = importlib.import_module("yotel.counters")
    factory = getattr(module, "counters_from_url", None)
    if factory is None:
        raise RuntimeError("yotel.counters.counters_from_url is not available")
    return cast(CounterBackend, factory(redis_url))
