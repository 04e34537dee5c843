"""The v1 audio fork (PRODUCT.md §6): pure `frames`/`timeline`/`playout`, the `dial` that opens
the socket, and the `AudioFork` client (its module docstring is the engine-facing guide)."""

from yotel.fork.client import RTP_TO_WS, WS_TO_RTP, AudioFork
from yotel.fork.dial import (
    CALL_ENDED,
    PROTOCOL_VIOLATION,
    TOKEN_INVALID,
    ForkConfig,
    ForkConnectError,
)
from yotel.fork.frames import FrameError
from yotel.fork.limits import ForkLimits
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline, silence_frame

__all__ = ["CALL_ENDED", "PROTOCOL_VIOLATION", "RTP_TO_WS", "TOKEN_INVALID", "WS_TO_RTP",
           "AudioFork", "CallerTimeline", "ForkConfig", "ForkConnectError", "ForkLimits",
           "FrameError", "Playout", "silence_frame"]
