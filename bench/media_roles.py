"""The two server processes of `bench/media.py`, each run as `python bench/media_roles.py ROLE`:

- `yotel`: the media engine (uvloop) answering every INVITE with the fork pointed at the echo AI.
  Prints `{"sip_port": ...}`, then answers one JSON line per command read on stdin: `cpu` (its
  own CPU seconds so far), `stats` (the engine's histograms and counters), `quit`.
- `ai`: a lean echo voice AI over WebSocket (what FakeVoiceAI's echo mode does, without keeping
  every frame). Prints `{"url": ...}`; answers `counts` and `quit` the same way.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop
from websockets.asyncio.server import ServerConnection, serve

from yotel.fork.client import ForkConfig
from yotel.media.call import Call
from yotel.media.engine import MediaConfig, MediaEngine

SILENCE = b"\xff" * 160
SUBPROTOCOL = "audio.drachtio.org"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def commands() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def run_yotel(ai_url: str) -> None:
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=40000, rtp_port_max=49999,
                                     allow_insecure=True,
                                     recordings_dir=Path(tempfile.gettempdir())))
    fork = ForkConfig(url=ai_url, subprotocol=SUBPROTOCOL, allow_insecure=True,
                      token_refresh_s=None)

    async def handler(call: Call) -> None:
        await call.ringing()
        await call.attach_fork(fork, {"call_id": call.id, "direction": "inbound"})
        await call.answer()

    engine.on_inbound(handler)
    await engine.start()
    reply({"sip_port": engine.sip_address[1]})
    reader = await commands()
    while line := (await reader.readline()).decode().strip():
        if line == "cpu":
            reply({"cpu_s": cpu_seconds()})
        elif line == "stats":
            timelines = [c.fork.timeline for c in engine.calls.values()
                         if c.fork is not None and c.fork.timeline is not None]
            reply({"cpu_s": cpu_seconds(), "calls": len(engine.calls),
                   "late_ticks": engine.clock.late_ticks,
                   "timeline_filled": sum(t.filled for t in timelines),
                   "timeline_late": sum(t.late for t in timelines), **engine.stats.summary()})
        elif line == "quit":
            break
    await engine.close()


class EchoCounts:
    received = 0  # caller frames carrying audio (the timeline's silence fill not counted)
    echoed = 0
    sessions = 0


async def run_ai() -> None:
    counts = EchoCounts()

    async def handler(ws: ServerConnection) -> None:
        counts.sessions += 1
        async for message in ws:
            if isinstance(message, bytes):
                if message != SILENCE:
                    counts.received += 1
                    counts.echoed += 1
                await ws.send(message)

    def select(_connection: ServerConnection, offered: Any) -> Any:
        return SUBPROTOCOL if SUBPROTOCOL in offered else None

    async with serve(handler, "127.0.0.1", 0, select_subprotocol=select,
                     compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        reply({"url": f"ws://127.0.0.1:{port}/bench"})
        reader = await commands()
        while line := (await reader.readline()).decode().strip():
            if line == "counts":
                reply({"received": counts.received, "echoed": counts.echoed,
                       "sessions": counts.sessions, "cpu_s": cpu_seconds()})
            elif line == "quit":
                break


def main() -> None:
    role = sys.argv[1]
    if role == "yotel":
        profile = os.environ.get("BENCH_PROFILE")  # a path: cProfile the engine process
        if profile:
            cProfile.runctx("uvloop.run(run_yotel(sys.argv[2]))", globals(), locals(), profile)
        else:
            uvloop.run(run_yotel(sys.argv[2]))
    elif role == "ai":
        uvloop.run(run_ai())
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main()
