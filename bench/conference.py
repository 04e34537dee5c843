"""Conference benchmark: CPU per mixed member-second and the mixer's added latency.

    python bench/conference.py [--conferences 10] [--members 5] [--seconds 20]

The media engine runs in its own process (`--role engine`): every inbound call is answered, and
each group of `--members` calls becomes one conference (the first call hosts, the others join as
members): one clock subscriber per conference mixes its members every 20 ms. This process is
the phones: each member streams 20 ms G.711 frames in real time (silence: the mixer sums every
frame whatever it holds), and once a second one member of each conference sends a loud frame;
the others time how long it takes to come back out of the mix. The direct path for comparison
is one RTP hop on loopback (< 1 ms). CPU is the engine process's own (utime + stime) over the
measured window. The last line of output is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from typing import Any

from yotel.media.admission import AdmissionLimits
from yotel.media.call import Call
from yotel.media.engine import MediaConfig, MediaEngine
from yotel.rtp.ports import RtpPortPool
from yotel.testing.phone import Phone

SILENT = b"\xff" * 160
LOUD = b"\x80" * 160  # μ-law full scale


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conferences", type=int, default=10)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--role", choices=("bench", "engine"), default="bench")
    return parser.parse_args()


# -- the engine process ---------------------------------------------------------------------
async def run_engine(members: int) -> None:
    # Every phone calls from 127.0.0.1: lift the per-source INVITE limits (admission control).
    lifted = AdmissionLimits(pending_per_source=10_000, rate_per_source=10_000.0,
                             burst_per_source=10_000.0)
    engine = MediaEngine(MediaConfig(sip_port=0, rtp_port_min=54000, rtp_port_max=57998,
                                     admission=lifted))
    hosts: list[Call] = []
    count = 0

    async def handler(call: Call) -> None:
        nonlocal count
        index, count = count, count + 1
        await call.answer()
        if index % members == 0:
            call.start_conference()
            hosts.append(call)
        else:
            hosts[index // members].add_member(call, kind="sip_uri", destination=call.from_uri)

    engine.on_inbound(handler)
    await engine.start()
    print(json.dumps({"sip_port": engine.sip_address[1]}), flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "cpu":
            times = os.times()
            print(json.dumps({"cpu_s": times.user + times.system,
                              "conference_ticks": sum(h.conference.ticks for h in hosts
                                                      if h.conference is not None)}),
                  flush=True)
        elif line == "quit":
            break
    await engine.close()


# -- the phones --------------------------------------------------------------------------------
class Member:
    def __init__(self, phone: Phone) -> None:
        self.phone = phone
        self.loud_at: float | None = None  # when this member last heard a loud frame

    def on_audio(self, payload: bytes, _ts: int, _seq: int) -> None:
        if payload[0] < 0x90 and self.loud_at is None:  # μ-law: low codes are loud
            self.loud_at = time.perf_counter()


async def stream(groups: list[list[Member]], seconds: float, delays: list[float]) -> None:
    """Every member sends a frame every 20 ms; each second one member per conference is loud."""
    loop = asyncio.get_running_loop()
    start, n = loop.time(), 0
    probe: list[tuple[list[Member], Member, float]] = []
    while loop.time() - start < seconds:
        loud = n % 50 == 25
        for g, group in enumerate(groups):
            speaker = group[(n // 50 + g) % len(group)] if loud else None
            for member in group:
                assert member.phone.rtp is not None
                member.phone.rtp.send_frame(LOUD if member is speaker else SILENT)
            if speaker is not None:
                for member in group:
                    member.loud_at = None
                probe.append((group, speaker, time.perf_counter()))
        if n % 50 == 45:  # 400 ms after each probe: collect who heard it, and when
            for group, speaker, sent in probe:
                delays.extend(m.loud_at - sent for m in group
                              if m is not speaker and m.loud_at is not None)
            probe.clear()
        n += 1
        await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    engine = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", "engine", "--members", str(args.members),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert engine.stdout is not None and engine.stdin is not None
    port = json.loads(await engine.stdout.readline())["sip_port"]

    async def ask(command: str) -> dict[str, Any]:
        assert engine.stdin is not None and engine.stdout is not None
        engine.stdin.write(f"{command}\n".encode())
        await engine.stdin.drain()
        return dict(json.loads(await engine.stdout.readline()))

    groups: list[list[Member]] = []
    pool = RtpPortPool(58000, 61998)
    try:
        for _ in range(args.conferences):
            group = []
            for _ in range(args.members):
                member = Member(await Phone(pool).start())
                await member.phone.call(f"sip:conf@127.0.0.1:{port}")
                assert member.phone.rtp is not None
                member.phone.rtp.on_audio = member.on_audio
                group.append(member)
            groups.append(group)
        delays: list[float] = []
        await stream(groups, 2.0, [])  # warm up
        before, started = await ask("cpu"), time.perf_counter()
        await stream(groups, args.seconds, delays)
        after, elapsed = await ask("cpu"), time.perf_counter() - started
        engine.stdin.write(b"quit\n")
    finally:
        for group in groups:
            for member in group:
                await member.phone.close()
        await engine.wait()
    member_seconds = args.conferences * args.members * elapsed
    cpu = after["cpu_s"] - before["cpu_s"]
    ordered = sorted(delays)
    return {
        "conferences": args.conferences, "members": args.members, "seconds": round(elapsed, 1),
        "engine_cpu_s": round(cpu, 3),
        "cpu_ms_per_member_second": round(1000 * cpu / member_seconds, 3),
        "engine_cores": round(cpu / elapsed, 3),
        "conference_ticks": after["conference_ticks"] - before["conference_ticks"],
        "mix_latency_samples": len(ordered),
        "mix_latency_p50_ms": round(1000 * statistics.median(ordered), 2) if ordered else None,
        "mix_latency_p99_ms": (round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 2)
                               if ordered else None),
    }


def main() -> None:
    args = parse_args()
    if args.role == "engine":
        asyncio.run(run_engine(args.members))
        return
    print(json.dumps(asyncio.run(bench(args))))


if __name__ == "__main__":
    main()
