"""The curated public surface of `yotel.fork` (what the media engine and users import)."""

from __future__ import annotations

import yotel.fork


def test_every_exported_name_exists_and_nothing_private_leaks() -> None:
    for name in yotel.fork.__all__:
        assert hasattr(yotel.fork, name), name
        assert not name.startswith("_")
    assert yotel.fork.AudioFork.__module__ == "yotel.fork.client"
    assert (yotel.fork.PROTOCOL_VIOLATION, yotel.fork.TOKEN_INVALID,
            yotel.fork.CALL_ENDED) == (4000, 4001, 4009)
