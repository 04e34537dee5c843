"""Media benchmark: N concurrent inbound calls streaming G.711 both ways through Yotel to an
echo AI over WebSocket, recording every call, for S seconds; then the same packet load through
rtpengine, and Yotel's CPU per call-second as a ratio to rtpengine's. Loopback only, bounded.

    .venv/bin/python bench/media.py --calls 200 --seconds 30 [--transcode]

Yotel's run: three processes: Yotel (the media engine on uvloop, recording each call as every
real AI call does), the echo AI, and this one, the load generator (a yotel.sip UserAgent placing
N calls, and one 20 ms ticker sending each call's RTP and timing the echo that comes back).
`--transcode`: the caller speaks μ-law and the AI A-law, so Yotel transcodes both ways.

rtpengine's run, right after, on the same calls x seconds: the same ticker sends each call's
RTP to an rtpengine userspace relay (`bench/rtpengine.py`), which relays it to a UDP echo (the
callee, `media_roles.py rtp-echo`) and the echo back; with `--transcode` rtpengine transcodes
μ-law ⇄ A-law as Yotel does. Its CPU is the daemon's utime+stime from /proc over the window.
Yotel does more per packet than a relay (a WebSocket frame each way, the caller timeline, the
recorder), so the ratio is the price of that, not of like-for-like work.

Every sent payload carries a marker and a counter in codes that survive μ-law → A-law → μ-law,
so the echoed packet tells its round trip in both modes. The last line printed is one JSON
object: Yotel's figures at the top level (as before), rtpengine's under "rtpengine", and
"cpu_ratio_vs_rtpengine".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import uvloop
from rtpengine import NgError, RtpEngine, set_group_nice  # bench/rtpengine.py (sys.path[0])

from yotel.media.stats import Histogram
from yotel.rtp import g711
from yotel.rtp.packet import HEADER
from yotel.sip.dialog import Dialog, InviteFailed
from yotel.sip.sdp import SessionDescription, accept_answer, answer, build_offer
from yotel.sip.ua import UserAgent

ROLES = Path(__file__).with_name("media_roles.py")
TONE = g711.encode((6000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000))
                   .astype("<i2").tobytes(), "pcmu")
# μ-law codes 0-99 come back unchanged from μ-law → A-law → μ-law (all codes below 112 do).
MARKER = bytes([42, 77])
DIGITS = 4  # base 100: counters up to 10**8
PHASES = 10  # calls are spread over 10 slots of the 20 ms period
MOVED = "packets_moved"  # a probe's count of packets through the relay, beside CPU seconds
_PACK = HEADER.pack


def stamp(counter: int) -> bytes:
    digits = [(counter // 100 ** i) % 100 for i in range(DIGITS)]
    return MARKER + bytes(digits) + TONE[2 + DIGITS:]


def read_stamp(payload: bytes) -> int | None:
    if len(payload) != 160 or payload[:2] != MARKER:
        return None  # silence, or the AI's own gap fill
    return sum(payload[2 + i] * 100 ** i for i in range(DIGITS))


class Role:
    """A child process speaking one JSON line per command on its stdin/stdout."""

    nice: int | None = None  # --nice: every role's session weight

    def __init__(self, *args: str) -> None:
        # Its own session, as a daemon runs (and as rtpengine does here): with the kernel's
        # autogroup scheduling each session gets an equal share of a busy machine, so the
        # engine is not squeezed into one share with the load generator and the AI.
        self.process = subprocess.Popen([sys.executable, str(ROLES), *args],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)
        set_group_nice(self.process.pid, self.nice)
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
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


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

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        counter = read_stamp(data[12:])
        if counter is None:
            return
        load = self.load
        load.received += 1
        sent = load.sent_at.pop(counter, None)
        if sent is not None:
            load.round_trip.record(load.loop.time() - sent)

    def send(self, counter: int, now: float) -> None:
        assert self.transport is not None and self.remote is not None
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 160) & 0xFFFFFFFF
        self.transport.sendto(_PACK(0x80, 0, self.seq, self.ts, self.ssrc) + stamp(counter),
                              self.remote)
        self.load.sent_at[counter] = now


class Load:
    """The callers of one run: a paced ticker over every connected call, and what came back."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls: list[CallerRtp] = []
        self.sent = self.received = 0
        self.sent_at: dict[int, float] = {}
        self.round_trip = Histogram()
        self.stopped = False
        self.failed: list[str] = []  # calls that could not be set up, and why
        self.received_final: int | None = None  # `received` when the relay's state was read

    async def open_rtp(self) -> CallerRtp:
        _, rtp = await self.loop.create_datagram_endpoint(lambda: CallerRtp(self),
                                                          local_addr=("127.0.0.1", 0))
        return rtp

    async def stream(self) -> None:
        """One deadline-paced ticker (no drift) for every connected call. Real phones are not
        in phase with each other, so the calls are spread over `PHASES` slots of the 20 ms
        period instead of all sending at the same instant. A call streams from its answer on,
        as a phone does; `stopped` ends it."""
        loop = self.loop
        start, step = loop.time(), 0
        while not self.stopped:
            now = loop.time()
            for rtp in self.calls[step % PHASES::PHASES]:
                rtp.send(self.sent, now)
                self.sent += 1
            step += 1
            await asyncio.sleep(max(start + step * 0.02 / PHASES - loop.time(), 0))

    def close(self) -> None:
        for rtp in self.calls:
            if rtp.transport is not None:
                rtp.transport.close()


Probe = Callable[[], Awaitable[dict[str, float]]]  # CPU seconds so far, by process


async def measure(seconds: float, load: Load, connect_all: Callable[[], Awaitable[Any]],
                  probe: Probe, started: Callable[[], object] | None = None) -> dict[str, float]:
    """Connect every call (each streams from its answer on); then the window: every call
    streaming for `seconds`, and 1 s for the last echoes. Returns each probed process's CPU
    seconds over the window, and this load process's ("load")."""
    streaming = asyncio.ensure_future(load.stream())
    try:
        await connect_all()
        start, own_start = await probe(), time.process_time()
        if started is not None:
            started()
        await asyncio.sleep(seconds)
    finally:
        load.stopped = True
        await streaming
    await asyncio.sleep(1.0)
    end = await probe()
    return {name: end[name] - start[name] for name in end} | {
        "load": time.process_time() - own_start}


def cores(cpu: dict[str, float], seconds: float) -> dict[str, float]:
    """Share of one core each process used over the window (`seconds` + the 1 s drain)."""
    return {name: round(value / (seconds + 1.0), 3) for name, value in cpu.items()
            if name != MOVED}


def per_packet(cpu_s: float, cpu: dict[str, float]) -> float:
    """CPU microseconds per packet moved through the relay in the window (caller → AI plus
    AI → caller, counted at the AI): a figure that stays fair when a starved relay falls
    behind and does less than calls x seconds of work."""
    return round(1e6 * cpu_s / max(cpu[MOVED], 1), 2)


# -- Yotel ------------------------------------------------------------------------------------
async def run_yotel(args: argparse.Namespace, yotel: Role, ai: Role) -> dict[str, Any]:
    load, ua = Load(), UserAgent("127.0.0.1", 0)
    await ua.start()
    sip_port, dialogs = int(yotel.hello["sip_port"]), []
    gate = asyncio.Semaphore(20)

    async def dial(index: int) -> None:
        async with gate:
            rtp = await load.open_rtp()
            offer = build_offer("127.0.0.1", rtp.port, ["PCMU"])
            outgoing = await ua.invite(f"sip:bench{index}@127.0.0.1:{sip_port}",
                                       from_uri="sip:load@127.0.0.1", sdp=bytes(offer))
            try:
                dialog = await outgoing.wait_answer(timeout=20)
            except InviteFailed as exc:  # counted: the run goes on with the calls it has
                load.failed.append(f"{exc.status} {exc.reason}")
                rtp.transport.close()  # type: ignore[union-attr]
                return
            agreed = accept_answer(offer, SessionDescription.parse(dialog.remote_sdp or b""))
            rtp.remote = (agreed.remote_address, agreed.remote_port)
            load.calls.append(rtp)
            dialogs.append(dialog)

    async def probe() -> dict[str, float]:
        ours, theirs = await asyncio.gather(asyncio.to_thread(yotel.ask, "cpu"),
                                            asyncio.to_thread(ai.ask, "counts"))
        return {"yotel": ours["cpu_s"], "yotel_kernel": ours["sys_s"],
                "echo_ai": theirs["cpu_s"], MOVED: theirs["received"] + theirs["echoed"]}

    def profile() -> None:
        if args.py_spy:  # sample the engine over the window (py-spy: pip install py-spy)
            args.spy = subprocess.Popen(
                [str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking",
                 "--pid", str(yotel.process.pid), "--threads", "--format", "raw",
                 "--duration", str(int(args.seconds)), "--rate", "200", "--output", args.py_spy],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        cpu = await measure(args.seconds, load,
                            lambda: asyncio.gather(*(dial(i) for i in range(args.calls))), probe,
                            profile)
        # What reached us so far, and what Yotel still holds for playout (the same instant, to
        # a few ms): echoes neither received nor queued are the ones lost.
        load.received_final = load.received
        stats = await asyncio.to_thread(yotel.ask, "stats")
        counts = await asyncio.to_thread(ai.ask, "counts")
    finally:
        await hang_up(dialogs)
        load.close()
        await ua.close()
    return report(args, load, stats, counts, cpu)


async def hang_up(dialogs: list[Dialog]) -> None:
    await asyncio.gather(*(dialog.bye() for dialog in dialogs), return_exceptions=True)


def traffic(load: Load, counts: dict[str, Any], queued: int = 0,
            dropped_late: int = 0) -> dict[str, Any]:
    """Packet counts both ways; `queued`: the AI's frames still waiting in Yotel's playout at
    the end (a backlog, not a loss); `dropped_late`: the AI's frames Yotel dropped on purpose
    to keep playout within 200 ms after ticks its clock skipped while the process was starved
    (fork/playout.py). Neither counts as lost."""
    received = load.received_final if load.received_final is not None else load.received
    up_lost = max(load.sent - counts["received"], 0)
    down_lost = max(counts["echoed"] - received - queued - dropped_late, 0)
    return {
        "calls_connected": len(load.calls),
        **({"calls_failed": sorted(set(load.failed))} if load.failed else {}),
        "caller_to_ai": {"packets_sent": load.sent, "packets_received": counts["received"],
                         "packets_lost": up_lost},
        "ai_to_caller": {"packets_sent": counts["echoed"], "packets_received": received,
                         "queued_at_end": queued, "dropped_late": dropped_late,
                         "packets_lost": down_lost},
        "packets_lost": up_lost + down_lost,
        "loss_pct": round(100 * (up_lost + down_lost) / max(load.sent + counts["echoed"], 1), 4),
        "round_trip_p50_ms": load.round_trip.quantile_ms(0.5),
        "round_trip_p99_ms": load.round_trip.quantile_ms(0.99),
    }


def report(args: argparse.Namespace, load: Load, stats: dict[str, Any],
           counts: dict[str, Any], cpu: dict[str, float]) -> dict[str, Any]:
    return {
        "calls": args.calls, "seconds": args.seconds, "recording": args.record,
        "transcode": args.transcode, **traffic(load, counts, stats["ai_queued_frames"],
                                                stats["packets_ai_frames_dropped_late"]),
        "cpu_ms_per_call_second": round(1000 * cpu["yotel"] / (args.calls * args.seconds), 3),
        **{key: stats[key] for key in ("rtp_to_ws_p50_ms", "rtp_to_ws_p99_ms",
                                       "ws_to_rtp_p50_ms", "ws_to_rtp_p99_ms")},
        "yotel_late_ticks": stats["late_ticks"],
        # Periods the clock skipped (a starved process): each call's AI audio beyond 200 ms of
        # that delay is dropped (ai_to_caller.dropped_late)
        "yotel_skipped_ticks": stats["skipped_ticks"],
        "yotel_tick_p99_ms": stats["tick_p99_ms"],
        "timeline_silence_filled": stats["timeline_filled"],
        "timeline_late_dropped": stats["timeline_late"],
        # AI audio queued for playout at the end (the echo's backlog: WS→RTP waits behind it)
        "ai_queued_ms_median": stats["ai_queued_ms_median"],
        "ai_queued_ms_max": stats["ai_queued_ms_max"],
        "cpu_us_per_packet_moved": per_packet(cpu["yotel"], cpu),
        "cores_used": cores(cpu, args.seconds),  # the box has 2; all three share them
        "yotel_kernel_share": round(cpu["yotel_kernel"] / max(cpu["yotel"], 1e-9), 3),
    }


# -- rtpengine --------------------------------------------------------------------------------
async def run_rtpengine(args: argparse.Namespace, engine: RtpEngine,
                        echo: Role) -> dict[str, Any]:
    load, ng = Load(), await engine.started()
    law = "PCMA" if args.transcode else "PCMU"
    # codec-mask PCMU + codec-transcode PCMA: the callee is offered A-law only, the caller
    # keeps μ-law, rtpengine transcodes between them (its docs, "codec" in the ng offer).
    codec = {"mask": ["PCMU"], "transcode": ["PCMA"]} if args.transcode else {}
    gate, connected = asyncio.Semaphore(20), []

    async def connect(index: int, callee_port: int) -> None:
        async with gate:
            rtp = await load.open_rtp()
            offer = build_offer("127.0.0.1", rtp.port, ["PCMU"])
            ids = {"call-id": f"bench-{index}", "from-tag": f"caller-{index}"}
            try:
                to_callee = await ng.command("offer", sdp=bytes(offer), codec=codec,
                                             replace=["origin", "session-connection"], **ids)
                callee_sdp, _ = answer(SessionDescription.parse(to_callee["sdp"]),
                                       "127.0.0.1", callee_port, [law])
                to_caller = await ng.command("answer", sdp=bytes(callee_sdp),
                                             **{"to-tag": f"callee-{index}"}, **ids)
            except NgError as exc:  # counted: the run goes on with the calls it has
                load.failed.append(str(exc))
                rtp.transport.close()  # type: ignore[union-attr]
                return
            agreed = accept_answer(offer, SessionDescription.parse(to_caller["sdp"]))
            rtp.remote = (agreed.remote_address, agreed.remote_port)
            load.calls.append(rtp)
            connected.append(ids)

    async def probe() -> dict[str, float]:
        theirs = await asyncio.to_thread(echo.ask, "counts")
        total, kernel = engine.cpu_seconds()
        return {"rtpengine": total, "rtpengine_kernel": kernel, "echo": theirs["cpu_s"],
                MOVED: theirs["received"] + theirs["echoed"]}

    ports = echo.hello["ports"]
    try:
        cpu = await measure(args.seconds, load, lambda: asyncio.gather(
            *(connect(i, port) for i, port in enumerate(ports))), probe)
        counts = await asyncio.to_thread(echo.ask, "counts")
    finally:
        await asyncio.gather(*(ng.command("delete", **ids) for ids in connected),
                             return_exceptions=True)
        ng.close()
        load.close()
    return {"transcode": args.transcode, **traffic(load, counts),
            "cpu_ms_per_call_second": round(1000 * cpu["rtpengine"]
                                            / (args.calls * args.seconds), 3),
            "cpu_us_per_packet_moved": per_packet(cpu["rtpengine"], cpu),
            "cores_used": cores(cpu, args.seconds),
            "kernel_share": round(cpu["rtpengine_kernel"] / max(cpu["rtpengine"], 1e-9), 3)}


# -- the two runs -----------------------------------------------------------------------------
def yotel_run(args: argparse.Namespace) -> dict[str, Any]:
    ai = Role("ai-websockets" if args.websockets_ai else "ai")
    yotel: Role | None = None
    try:
        flags = (["--record"] if args.record else []) + ["--ai-law",
                                                         "pcma" if args.transcode else "pcmu"]
        yotel = Role("yotel", ai.hello["url"], *flags)
        return uvloop.run(run_yotel(args, yotel, ai))
    finally:
        if yotel is not None:
            yotel.stop()
        ai.stop()


def rtpengine_run(args: argparse.Namespace) -> dict[str, Any]:
    engine = RtpEngine(threads=args.rtpengine_threads, nice=args.nice)
    echo: Role | None = None
    try:
        echo = Role("rtp-echo", str(args.calls))
        return uvloop.run(run_rtpengine(args, engine, echo))
    finally:
        if echo is not None:
            echo.stop()
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--transcode", action="store_true",
                        help="the caller speaks μ-law, the AI A-law (rtpengine transcodes too)")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="do not record the calls (real AI calls all record)")
    parser.add_argument("--no-rtpengine", dest="rtpengine", action="store_false",
                        help="Yotel's run only")
    parser.add_argument("--no-yotel", dest="yotel", action="store_false",
                        help="rtpengine's run only")
    parser.add_argument("--websockets-ai", action="store_true",
                        help="the echo AI on the websockets library (default: bench/echo_ws.py)")
    parser.add_argument("--py-spy", metavar="FILE", default=None,
                        help="sample Yotel with py-spy over the window (collapsed stacks)")
    parser.add_argument("--nice", type=int, default=None,
                        help="the session nice of Yotel, the AI, the echo and rtpengine (e.g. "
                             "-10, root: a busy shared machine starves them otherwise)")
    parser.add_argument("--rtpengine-threads", type=int, default=None,
                        help="rtpengine's worker threads (default: its own, one per core)")
    args = parser.parse_args()
    if not 1 <= args.calls <= 1000 or not 0 < args.seconds <= 600:
        parser.error("1-1000 calls, at most 600 seconds")
    # A SIGTERM unwinds like Ctrl-C, so the `finally`s stop rtpengine and the child roles.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.spy = None
    Role.nice = args.nice
    own_nice = None
    if args.nice is not None:  # the load generator too: its jitter would read as Yotel's
        with contextlib.suppress(PermissionError):  # already a process group leader
            os.setsid()  # its own session where it can, so the weight is its alone
        own_nice = Path("/proc/self/autogroup").read_text().split()[-1]
        set_group_nice(os.getpid(), args.nice)
    try:
        print(json.dumps(both_runs(args)))
    finally:
        if own_nice is not None:  # the shell's session, when we could not leave it
            set_group_nice(os.getpid(), int(own_nice))


def both_runs(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"calls": args.calls, "seconds": args.seconds}
    if args.yotel:
        result = yotel_run(args)
        if args.spy is not None:
            args.spy.wait(30)
        print(json.dumps(result), flush=True)
    if args.rtpengine:
        result["rtpengine"] = theirs = rtpengine_run(args)
        if args.yotel:
            result["cpu_ratio_vs_rtpengine"] = round(
                result["cpu_ms_per_call_second"] / max(theirs["cpu_ms_per_call_second"], 1e-9),
                2)
            result["cpu_per_packet_ratio_vs_rtpengine"] = round(
                result["cpu_us_per_packet_moved"] / max(theirs["cpu_us_per_packet_moved"], 1e-9),
                2)
    return result

if __name__ == "__main__":
    main()
