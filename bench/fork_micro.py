"""Audio-fork micro-benchmark: CPU per WebSocket frame in this process, loopback only, bounded.

    .venv/bin/python bench/fork_micro.py --forks 100 --frames 50

A child process serves WebSockets (its CPU is not counted). This process opens `forks` sockets
and measures its own CPU time (`time.process_time`) for:

- `out_write_through`: a caller frame through `AudioFork.send_caller_frame` as the engine does
  it now (straight to the transport while it keeps up), one frame per fork per round, the loop
  yielding between rounds as it does between RTP packets;
- `out_writer_task`: the same through the writer-task hop it replaced (append to a deque, set
  an Event, the writer task wakes and `await ws.send()`s), on plain websockets connections;
- `in_gated` / `in_plain`: receiving 160-byte AI frames (`async for` over the socket), through
  the gate (`GatedConnection`) and through websockets' plain `ClientConnection`: the gate's
  cost for well-behaved traffic;
- `in_flood_dropped`: 1-byte frames flooded at the gate and dropped over the message rate,
  per frame scanned (what a flooding AI costs per frame once over its limits).

Each is run 5 times and the least disturbed (lowest) kept. The last line printed is one JSON
object (microseconds of CPU per frame).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from yotel.fork.client import AudioFork, ForkConfig
from yotel.fork.connection import GatedConnection
from yotel.fork.limits import ForkLimits

SUBPROTOCOL = "audio.drachtio.org"
REPEAT = 5
SERVER = r"""
import asyncio, sys
from websockets.asyncio.server import serve
async def handler(ws):
    path = ws.request.path
    if path.startswith("/audio/"):
        n = int(path.split("/")[2])
        await ws.recv()  # the metadata or a hello first
        frame = b"\x11" * 160
        for _ in range(n):
            await ws.send(frame)
    elif path.startswith("/flood/"):
        n = int(path.split("/")[2])
        await ws.recv()
        blob = b"\x82\x01\x01" * n
        ws.transport.write(blob)
        await ws.drain()
    async for _ in ws:
        pass
async def main():
    async with serve(handler, "127.0.0.1", 0, select_subprotocol=lambda c, o: o[0],
                     max_size=None, compression=None) as server:
        print(next(iter(server.sockets)).getsockname()[1], flush=True)
        await asyncio.to_thread(sys.stdin.read)
asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER,
                                                stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(await proc.stdout.readline())
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.kill()
        await proc.wait()


def config(url: str, **limits: Any) -> ForkConfig:
    return ForkConfig(url=url, allow_insecure=True, token_refresh_s=None,
                      limits=ForkLimits(**limits))


async def cpu_per_frame(frames: int, work: Callable[[], Awaitable[None]]) -> float:
    """Microseconds of this process's CPU per frame spent in `work`."""
    started = time.process_time()
    await work()
    return round((time.process_time() - started) / frames * 1e6, 2)


async def rounds(senders: list[Callable[[bytes], None]], count: int) -> None:
    frame = b"\x22" * 160
    for _ in range(count):
        for send in senders:
            send(frame)
        await asyncio.sleep(0)  # the loop turns between packets, as on the RTP path


async def out_write_through(url: str, forks: int, count: int) -> float:
    opened = [AudioFork(config(f"{url}/sink"), {"call_id": str(i)}) for i in range(forks)]
    await asyncio.gather(*(fork.connect() for fork in opened))
    cost = await cpu_per_frame(forks * count, lambda: rounds(
        [fork.send_caller_frame for fork in opened], count))
    await asyncio.gather(*(fork.close() for fork in opened))
    return cost


class WriterTask:
    """The outgoing path before write-through: every frame hops through one writer task."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws, self.queue, self.wakeup = ws, deque[bytes](), asyncio.Event()
        self.task = asyncio.ensure_future(self.run())

    def send(self, frame: bytes) -> None:
        self.queue.append(frame)
        self.wakeup.set()

    async def run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                await self.ws.send(self.queue.popleft())


async def out_writer_task(url: str, forks: int, count: int) -> float:
    sockets = await asyncio.gather(*(connect(f"{url}/sink", compression=None,
                                             subprotocols=[Subprotocol(SUBPROTOCOL)])
                                     for _ in range(forks)))
    writers = [WriterTask(ws) for ws in sockets]
    cost = await cpu_per_frame(forks * count, lambda: rounds(
        [writer.send for writer in writers], count))
    await asyncio.sleep(0.1)
    for writer in writers:
        writer.task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets))
    return cost


async def inbound(url: str, count: int, *, gated: bool) -> float:
    """Receive `count` AI frames with `async for`, through the gate or not."""
    # Limits out of the way: this measures what the gate costs on frames it lets through.
    unlimited = ForkLimits(messages_per_s=1e9, message_burst=1e9, bytes_per_s=1e12,
                           byte_burst=1e12, scan_per_s=1e9, scan_burst=1e9)
    factory = GatedConnection.with_limits(unlimited) if gated else ClientConnection
    ws = await connect(f"{url}/audio/{count}", compression=None, create_connection=factory,
                       subprotocols=[Subprotocol(SUBPROTOCOL)])
    await ws.send("hello")

    async def drain() -> None:
        received = 0
        async for _ in ws:
            received += 1
            if received == count:
                return
    cost = await cpu_per_frame(count, drain)
    await ws.close()
    return cost


async def in_flood_dropped(url: str, count: int) -> float:
    fork = AudioFork(config(f"{url}/flood/{count}", messages_per_s=1.0, message_burst=1.0,
                            scan_per_s=1e9, scan_burst=1e9, abuse_close_s=1e9), {"call_id": "f"})
    await fork.connect()
    ws = fork._ws  # the gate's own frame counter: what was scanned
    assert ws is not None

    async def scanned() -> None:
        while ws.gate.frames < count:
            await asyncio.sleep(0.001)
    cost = await cpu_per_frame(count, scanned)
    await fork.close()
    return cost


async def main(forks: int, count: int) -> dict[str, Any]:
    result: dict[str, Any] = {"forks": forks, "frames_per_fork": count, "loop": "uvloop",
                              "unit": "us CPU per frame"}
    async with server() as url:
        # Best of `REPEAT`: the least disturbed run of each (a shared machine adds only noise).
        measures: list[tuple[str, Callable[[], Awaitable[float]]]] = [
            ("out_write_through", lambda: out_write_through(url, forks, count)),
            ("out_writer_task", lambda: out_writer_task(url, forks, count)),
            ("in_gated", lambda: inbound(url, forks * count, gated=True)),
            ("in_plain", lambda: inbound(url, forks * count, gated=False)),
            ("in_flood_dropped", lambda: in_flood_dropped(url, 200_000))]
        for name, measure in measures:
            result[name] = min([await measure() for _ in range(REPEAT)])
    result["out_saved"] = round(1 - result["out_write_through"] / result["out_writer_task"], 3)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=100)
    parser.add_argument("--frames", type=int, default=50, help="frames per fork and direction")
    args = parser.parse_args()
    if not 1 <= args.forks <= 500 or not 1 <= args.frames <= 1000:
        parser.error("1-500 forks, 1-1000 frames each")
    print(json.dumps(uvloop.run(main(args.forks, args.frames))))
