from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from yotel.media.engine import MediaConfig, MediaEngine
from yotel.rtp.ports import RtpPortPool
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=31000, rtp_port_max=34999,
                                     recordings_dir=tmp_path, allow_insecure=True))
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
async def phone() -> AsyncIterator[Phone]:
    phone = await Phone(RtpPortPool(35000, 36999)).start()
    yield phone
    await phone.close()


@pytest.fixture
async def echo_ai() -> AsyncIterator[FakeVoiceAI]:
    async with FakeVoiceAI(mode="echo") as ai:
        yield ai
