"""The v1 audio fork (PRODUCT.md §6): pure frames/timeline/playout, and the `AudioFork` client."""

from yotel.fork.client import AudioFork, ForkConfig, ForkConnectError
from yotel.fork.frames import FrameError
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline, silence_frame

__all__ = ["AudioFork", "CallerTimeline", "ForkConfig", "ForkConnectError", "FrameError",
           "Playout", "silence_frame"]
