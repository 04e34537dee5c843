from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from yotel.media.engine import MediaConfig, MediaEngine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[MediaEngine]:
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=37000, rtp_port_max=38999,
                                     recordings_dir=tmp_path, allow_insecure=True))
    await engine.start()
    yield engine
    await engine.close()
