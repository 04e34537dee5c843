"""RTP receive/send micro-benchmark: CPU per packet of the socket layer, loopback only, bounded.

    .venv/bin/python bench/rtp_micro.py --calls 100 --seconds 3

A child process sends `calls` x 50 packets/s (one 172-byte PCMU packet per call every 20 ms,
spread over the period like real phones) to `calls` receiving sockets in this process, and this
process measures its own CPU time while receiving with each strategy:

- `protocol-noop`: a DatagramProtocol doing nothing (the floor of the event loop);
- `session`: `RtpSession` with its full receive path (header, sequence stats, latching, callback);
- `reader`: non-blocking sockets + `loop.add_reader`, `recvfrom_into` until EAGAIN (no parsing).

Then it times `RtpSession.send_frame` in a tight loop. The last line printed is one JSON object.

Measured on the 2-core dev machine (100 calls, 3 s, uvloop): protocol-noop 16.4 us/packet,
session 20.5, reader 17.6; send_frame 5.3 us including the sink's receive. The add_reader
batch reader saves nothing over uvloop's C datagram protocol here (at 50 packets/s per socket a
wake-up almost always finds one packet), so RtpSession stays a DatagramProtocol; its whole receive
path costs ~4 us/packet over the loop's floor, ~1 ms CPU per call-second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import uvloop

from yotel.rtp.ports import RtpPortPool
from yotel.rtp.session import RtpSession

PERIOD_S = 0.02


def send_load(ports: list[int], seconds: float) -> None:
    """The child: paced PCMU packets to every port, each call its own SSRC and sequence."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    header = struct.Struct("!BBHII")
    payload = b"\xff" * 160
    start = time.monotonic()
    for tick in range(int(seconds / PERIOD_S)):
        for index, port in enumerate(ports):
            due = start + tick * PERIOD_S + PERIOD_S * index / len(ports)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            packet = header.pack(0x80, 0, tick & 0xFFFF, tick * 160, index + 1) + payload
            sock.sendto(packet, ("127.0.0.1", port))
    sock.close()


class Noop(asyncio.DatagramProtocol):
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        pass


async def open_protocols(calls: int) -> tuple[list[int], Callable[[], None], Callable[[], int]]:
    loop = asyncio.get_running_loop()
    transports = [(await loop.create_datagram_endpoint(Noop, local_addr=("127.0.0.1", 0)))[0]
                  for _ in range(calls)]
    ports = [t.get_extra_info("sockname")[1] for t in transports]

    def close() -> None:
        for transport in transports:
            transport.close()

    return ports, close, lambda: -1


async def open_sessions(calls: int) -> tuple[list[int], Callable[[], None], Callable[[], int]]:
    pool = RtpPortPool(40000, 40000 + 4 * calls + 10)
    sessions = [await RtpSession.open("127.0.0.1", pool) for _ in range(calls)]
    for session in sessions:
        session.configure(payload_type=0, dtmf_pt=101, remote=None)
        session.on_audio = lambda payload, ts, seq: None

    def close() -> None:
        for session in sessions:
            session.close()

    return ([s.local_port for s in sessions], close,
            lambda: sum(s.stats.packets_received for s in sessions))


async def open_readers(calls: int) -> tuple[list[int], Callable[[], None], Callable[[], int]]:
    loop = asyncio.get_running_loop()
    socks = []
    count = [0]
    buffer = bytearray(2048)

    def drain(sock: socket.socket) -> None:
        while True:
            try:
                sock.recvfrom_into(buffer)
            except BlockingIOError:
                return
            count[0] += 1

    for _ in range(calls):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), drain, sock)
        socks.append(sock)

    def close() -> None:
        for sock in socks:
            loop.remove_reader(sock.fileno())
            sock.close()

    return [s.getsockname()[1] for s in socks], close, lambda: count[0]


async def measure(opener: Any, calls: int, seconds: float) -> dict[str, float]:
    ports, close, received = await opener(calls)
    child = multiprocessing.get_context("spawn").Process(target=send_load, args=(ports, seconds))
    cpu0 = time.process_time()
    child.start()
    await asyncio.to_thread(child.join, seconds + 10)
    cpu = time.process_time() - cpu0
    got = received()
    close()
    packets = calls * int(seconds / PERIOD_S)
    return {"cpu_s": round(cpu, 4), "packets_sent": packets, "received": got,
            "us_per_packet": round(1e6 * cpu / packets, 2),
            "ms_cpu_per_call_second": round(1000 * cpu / (calls * seconds), 3)}


async def measure_send(frames: int) -> dict[str, float]:
    pool = RtpPortPool(48000, 48100)
    sink = await RtpSession.open("127.0.0.1", pool)
    sender = await RtpSession.open("127.0.0.1", pool)
    sender.configure(payload_type=0, dtmf_pt=None, remote=("127.0.0.1", sink.local_port))
    payload = b"\xff" * 160
    cpu0 = time.process_time()
    for i in range(frames):
        sender.send_frame(payload)
        if i % 200 == 0:
            await asyncio.sleep(0)  # let the sink drain so the kernel buffer does not fill
    cpu = time.process_time() - cpu0
    sender.close()
    sink.close()
    return {"frames": frames, "us_per_frame_incl_sink_receive": round(1e6 * cpu / frames, 2)}


async def main(calls: int, seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {"calls": calls, "seconds": seconds, "loop": "uvloop"}
    for name, opener in (("protocol-noop", open_protocols), ("session", open_sessions),
                         ("reader", open_readers)):
        result[name] = await measure(opener, calls, seconds)
        print(name, result[name], flush=True)
    result["send"] = await measure_send(20000)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if args.calls < 1 or args.calls > 1000 or not 0 < args.seconds <= 60:
        parser.error("1-1000 calls, at most 60 seconds")
    print(json.dumps(uvloop.run(main(args.calls, args.seconds))))
