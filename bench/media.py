"""Media benchmark: N concurrent inbound calls streaming G.711 both ways through Yotel to an
echo AI over WebSocket, for S seconds. Loopback only, bounded.

    .venv/bin/python bench/media.py --calls 100 --seconds 30

Three processes: Yotel (the media engine on uvloop), the echo AI, and this one, the load
generator (a yotel.sip UserAgent placing N calls, and one 20 ms ticker sending each call's RTP
and timing the echo that comes back). Every sent payload carries a 4-byte counter, so the
echoed packet tells its round trip. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

from yotel.media.stats import Histogram
from yotel.rtp import g711
from yotel.rtp.packet import HEADER
from yotel.sip.dialog import Dialog
from yotel.sip.sdp import SessionDescription, accept_answer, build_offer
from yotel.sip.ua import UserAgent

ROLES = Path(__file__).with_name("media_roles.py")
SILENCE = b"\xff" * 160
TONE = g711.encode((6000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000))
                   .astype("<i2").tobytes(), "pcmu")
COUNTER = struct.Struct("!I")
PHASES = 10  # calls are spread over 10 slots of the 20 ms period


class Role:
    """A child process speaking one JSON line per command on its stdin/stdout."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, str(ROLES), *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.hello = self._line()

    def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{ROLES.name} exited early")
        return dict(json.loads(line))

    def ask(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._line()

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


class CallerRtp(asyncio.DatagramProtocol):
    """One call's RTP on the load side: sends the tone, counts and times what comes back."""

    def __init__(self, load: Load) -> None:
        self.load = load
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.seq = self.ts = 0
        self.ssrc = id(self) & 0xFFFFFFFF

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        payload = data[12:]
        if payload == SILENCE or len(payload) != 160:
            return
        self.load.received += 1
        counter = COUNTER.unpack_from(payload)[0]
        sent = self.load.sent_at.pop(counter, None)
        if sent is not None:
            self.load.round_trip.record(asyncio.get_running_loop().time() - sent)

    def send(self, counter: int, now: float) -> None:
        assert self.transport is not None and self.remote is not None
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        payload = COUNTER.pack(counter) + TONE[4:]
        self.transport.sendto(HEADER.pack(0x80, 0, self.seq, self.ts, self.ssrc) + payload,
                              self.remote)
        self.load.sent_at[counter] = now


class Load:
    def __init__(self, sip_port: int) -> None:
        self.sip_port = sip_port
        self.ua = UserAgent("127.0.0.1", 0)
        self.calls: list[tuple[CallerRtp, Dialog]] = []
        self.sent = self.received = 0
        self.sent_at: dict[int, float] = {}
        self.round_trip = Histogram()
        self.stopped = False

    async def dial(self, index: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            loop = asyncio.get_running_loop()
            _, rtp = await loop.create_datagram_endpoint(lambda: CallerRtp(self),
                                                         local_addr=("127.0.0.1", 0))
            port = rtp.transport.get_extra_info("sockname")[1]  # type: ignore[union-attr]
            offer = build_offer("127.0.0.1", port, ["PCMU"])
            outgoing = await self.ua.invite(f"sip:bench{index}@127.0.0.1:{self.sip_port}",
                                            from_uri="sip:load@127.0.0.1", sdp=bytes(offer))
            dialog = await outgoing.wait_answer(timeout=20)
            agreed = accept_answer(offer, SessionDescription.parse(dialog.remote_sdp or b""))
            rtp.remote = (agreed.remote_address, agreed.remote_port)
            self.calls.append((rtp, dialog))

    async def stream(self) -> None:
        """One deadline-paced ticker (no drift) for every connected call. Real phones are not
        in phase with each other, so the calls are spread over `PHASES` slots of the 20 ms
        period instead of all sending at the same instant. A call streams from its answer on,
        as a phone does; `stopped` ends it."""
        loop = asyncio.get_running_loop()
        start, step = loop.time(), 0
        while not self.stopped:
            now = loop.time()
            for rtp, _ in self.calls[step % PHASES::PHASES]:
                rtp.send(self.sent, now)
                self.sent += 1
            step += 1
            await asyncio.sleep(max(start + step * 0.02 / PHASES - loop.time(), 0))

    async def hang_up(self) -> None:
        await asyncio.gather(*(dialog.bye() for _, dialog in self.calls))
        for rtp, _ in self.calls:
            if rtp.transport is not None:
                rtp.transport.close()


async def run_load(args: argparse.Namespace, yotel: Role, ai: Role) -> dict[str, Any]:
    load = Load(int(yotel.hello["sip_port"]))
    await load.ua.start()
    gate = asyncio.Semaphore(20)
    streaming = asyncio.ensure_future(load.stream())
    await asyncio.gather(*(load.dial(i, gate) for i in range(args.calls)))
    cpu_start = (await asyncio.to_thread(yotel.ask, "cpu"))["cpu_s"]
    await asyncio.sleep(args.seconds)  # the measured window: every call streaming
    load.stopped = True
    await streaming
    await asyncio.sleep(1.0)  # let the last echoes come back
    cpu_end = (await asyncio.to_thread(yotel.ask, "cpu"))["cpu_s"]
    stats = await asyncio.to_thread(yotel.ask, "stats")
    counts = await asyncio.to_thread(ai.ask, "counts")
    await load.hang_up()
    await load.ua.close()
    return report(args, load, stats, counts, cpu_end - cpu_start)


def report(args: argparse.Namespace, load: Load, stats: dict[str, Any],
           counts: dict[str, Any], cpu_s: float) -> dict[str, Any]:
    up_lost = max(load.sent - counts["received"], 0)
    down_lost = max(counts["echoed"] - load.received, 0)
    call_seconds = args.calls * args.seconds
    return {
        "calls": args.calls, "seconds": args.seconds, "calls_connected": len(load.calls),
        "caller_to_ai": {"packets_sent": load.sent, "packets_received": counts["received"],
                         "packets_lost": up_lost},
        "ai_to_caller": {"packets_sent": counts["echoed"], "packets_received": load.received,
                         "packets_lost": down_lost},
        "packets_lost": up_lost + down_lost,
        "loss_pct": round(100 * (up_lost + down_lost) / max(load.sent + counts["echoed"], 1), 4),
        "cpu_ms_per_call_second": round(1000 * cpu_s / call_seconds, 3),
        **{key: stats[key] for key in ("rtp_to_ws_p50_ms", "rtp_to_ws_p99_ms",
                                       "ws_to_rtp_p50_ms", "ws_to_rtp_p99_ms")},
        "round_trip_p50_ms": load.round_trip.quantile_ms(0.5),
        "round_trip_p99_ms": load.round_trip.quantile_ms(0.99),
        "yotel_late_ticks": stats["late_ticks"],
        "yotel_tick_p99_ms": stats["tick_p99_ms"],
        "timeline_silence_filled": stats["timeline_filled"],
        "timeline_late_dropped": stats["timeline_late"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    ai = Role("ai")
    yotel = Role("yotel", ai.hello["url"])
    try:
        result = uvloop.run(run_load(args, yotel, ai))
    finally:
        yotel.stop()
        ai.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
