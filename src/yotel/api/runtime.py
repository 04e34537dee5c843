"""What the API's routes share for the life of the app: built in the lifespan, read by the
dependencies in `deps.py`. Components get small values here, never the Settings object."""

from __future__ import annotations

from dataclasses import dataclass

from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.tenancy.auth import Authenticator
from yotel.voice_agents.service import VoiceAgentService


@dataclass(frozen=True, slots=True)
class Runtime:
    db: Database
    counters: Counters
    authenticator: Authenticator
    voice_agents: VoiceAgentService
    allow_insecure_urls: bool
    redis_configured: bool
