"""The server processes of `bench/media.py`, each run as `python bench/media_roles.py ROLE ...`:

- `yotel AI_URL [--record] [--ai-law pcmu|pcma]`: the media engine (uvloop) answering every
  INVITE with the fork pointed at the echo AI, recording the call when asked (as every real AI
  call does), the AI speaking `--ai-law` (the caller's law differing: transcoding both ways).
  Prints `{"sip_port": ...}`, then answers one JSON line per command read on stdin: `cpu` (its
  own CPU seconds so far, every thread), `stats` (the engine's histograms and counters), `quit`.
- `ai`: a lean echo voice AI over WebSocket (what FakeVoiceAI's echo mode does, without keeping
  every frame; the caller timeline's silence fill is not echoed), on `echo_ws`'s minimal
  server; `ai-websockets`: the same on the `websockets` library's server. Prints
  `{"url": ...}`; answers `counts` and `quit` the same way.
- `rtp-echo N`: N UDP sockets echoing every packet to its sender: the callee side of the
  rtpengine run. Prints `{"ports": [...]}`; answers `counts` and `quit`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop
from echo_ws import EchoServerProtocol  # bench/echo_ws.py: the script's folder is on sys.path
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from yotel.fork.client import ForkConfig
from yotel.media.call import Call
from yotel.media.engine import MediaConfig, MediaEngine

SILENCES = (b"\xff" * 160, b"\xd5" * 160)  # the timeline's gap fill, μ-law and A-law
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


def bench_admission() -> dict[str, Any]:
    """The load generator is one trusted source placing hundreds of calls in seconds: lift the
    per-source INVITE limits that would refuse it 503 (absent in older engines)."""
    try:
        from yotel.media.admission import AdmissionLimits
    except ImportError:
        return {}
    return {"admission": AdmissionLimits(pending_per_source=1000, pending_total=1000,
                                         rate_per_source=1000.0, burst_per_source=1000.0,
                                         rate_total=1000.0, burst_total=1000.0)}


async def run_yotel(ai_url: str, record: bool, ai_law: str) -> None:
    recordings = tempfile.TemporaryDirectory(prefix="yotel-bench-")
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=40000, rtp_port_max=49999,
                                     allow_insecure=True, recordings_dir=Path(recordings.name),
                                     **bench_admission()))
    fork = ForkConfig(url=ai_url, subprotocol=SUBPROTOCOL, allow_insecure=True,
                      token_refresh_s=None, encoding=ai_law)

    async def handler(call: Call) -> None:
        await call.ringing()
        await call.attach_fork(fork, {"call_id": call.id, "direction": "inbound"})
        if record:
            call.start_recording()
        await call.answer()

    engine.on_inbound(handler)
    await engine.start()
    reply({"sip_port": engine.sip_address[1]})
    reader = await commands()
    while line := (await reader.readline()).decode().strip():
        if line == "cpu":
            reply({"cpu_s": cpu_seconds(),
                   "sys_s": resource.getrusage(resource.RUSAGE_SELF).ru_stime})
        elif line == "stats":
            forks = [c.fork for c in engine.calls.values() if c.fork is not None]
            timelines = [f.timeline for f in forks if f.timeline is not None]
            queued = sorted(f.playout.queued_ms for f in forks) or [0]
            reply({"cpu_s": cpu_seconds(), "calls": len(engine.calls),
                   "late_ticks": engine.clock.late_ticks,
                   "skipped_ticks": getattr(engine.clock, "skipped_ticks", 0),
                   "timeline_filled": sum(t.filled for t in timelines),
                   "timeline_late": sum(t.late for t in timelines),
                   "ai_queued_frames": sum(queued) // 20,
                   "ai_queued_ms_median": queued[len(queued) // 2],
                   "ai_queued_ms_max": queued[-1], **engine.stats.summary()})
        elif line == "quit":
            break
    await engine.close()
    recordings.cleanup()


class EchoCounts:
    received = 0  # caller frames carrying audio (the timeline's silence fill not counted)
    echoed = 0
    sessions = 0


async def run_ai(lean: bool) -> None:
    """lean: `echo_ws`'s minimal server; else the `websockets` library's (3x the CPU)."""
    counts = EchoCounts()

    def heard(message: bytes) -> bool:
        """Echo what the caller said, not the timeline's gap fill: an AI answers speech, and
        echoing the silence Yotel fills in after a stall would send more than real time, a
        backlog that never drains (every later echo waiting behind it)."""
        if message in SILENCES:
            return False
        counts.received += 1
        counts.echoed += 1
        return True

    async def handler(ws: ServerConnection) -> None:
        counts.sessions += 1
        # A call torn down at the end of the run may drop its socket without a close frame.
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, bytes) and heard(message):
                    await ws.send(message)

    def select(_connection: ServerConnection, offered: Any) -> Any:
        return SUBPROTOCOL if SUBPROTOCOL in offered else None

    def opened() -> None:
        counts.sessions += 1

    if lean:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: EchoServerProtocol(SUBPROTOCOL, heard, opened), "127.0.0.1", 0)
    else:
        server = await serve(handler, "127.0.0.1", 0, select_subprotocol=select,
                             compression=None)
    async with server:
        port = next(iter(server.sockets)).getsockname()[1]
        reply({"url": f"ws://127.0.0.1:{port}/bench"})
        reader = await commands()
        while line := (await reader.readline()).decode().strip():
            if line == "counts":
                reply({"received": counts.received, "echoed": counts.echoed,
                       "sessions": counts.sessions, "cpu_s": cpu_seconds()})
            elif line == "quit":
                break


class Echo(asyncio.DatagramProtocol):
    """The callee of one rtpengine call: every packet goes back where it came from, as the
    callee's own stream (its own SSRC, RFC 3550 §8: a relay may drop a stream that comes back
    with the SSRC it sent)."""

    def __init__(self, counts: EchoCounts) -> None:
        self.counts = counts
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = os.urandom(4)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.counts.received += 1
        self.transport.sendto(data[:8] + self.ssrc + data[12:], addr)
        self.counts.echoed += 1


async def run_rtp_echo(calls: int) -> None:
    loop, counts = asyncio.get_running_loop(), EchoCounts()
    transports = [(await loop.create_datagram_endpoint(lambda: Echo(counts),
                                                       local_addr=("127.0.0.1", 0)))[0]
                  for _ in range(calls)]
    reply({"ports": [t.get_extra_info("sockname")[1] for t in transports]})
    reader = await commands()
    while line := (await reader.readline()).decode().strip():
        if line == "counts":
            reply({"received": counts.received, "echoed": counts.echoed,
                   "cpu_s": cpu_seconds()})
        elif line == "quit":
            break
    for transport in transports:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["yotel", "ai", "ai-websockets", "rtp-echo"])
    parser.add_argument("arg", nargs="?", help="yotel: the AI's URL; rtp-echo: the calls")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--ai-law", default="pcmu", choices=["pcmu", "pcma"])
    args = parser.parse_args()
    if args.role == "yotel":
        run = run_yotel(args.arg, args.record, args.ai_law)
        profile = os.environ.get("BENCH_PROFILE")  # a path: cProfile the engine process
        if profile:
            cProfile.runctx("uvloop.run(run)", globals(), locals(), profile)
        else:
            uvloop.run(run)
    elif args.role in ("ai", "ai-websockets"):
        uvloop.run(run_ai(lean=args.role == "ai"))
    else:
        uvloop.run(run_rtp_echo(int(args.arg)))


if __name__ == "__main__":
    main()
