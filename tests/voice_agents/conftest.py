from __future__ import annotations

import pytest

from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.domain.secretbox import SecretBox
from yotel.voice_agents.service import VoiceAgentService


@pytest.fixture
def service(db: Database, counters: Counters) -> VoiceAgentService:
    return VoiceAgentService(db=db, box=SecretBox("unit-test-secret"), counters=counters,
                             allow_insecure_urls=False)
