"""rtpengine as the reference relay for `bench/media.py`: the daemon, its ng control protocol,
and its CPU time. Loopback only.

The daemon (Debian `rtpengine-daemon`) runs as a userspace relay: `--table=-1` (no kernel
module, so every packet goes through its own threads and its CPU shows in /proc/<pid>/stat),
`--config-file=none` (the packaged /etc config asks for the kernel table on `any` interface),
on loopback with an ng port and an RTP port range of its own. It is killed when the bench ends,
also on error.

The ng protocol: UDP datagrams `<cookie> <bencoded dictionary>`, answered with the same cookie
(rtpengine's docs, "ng Control Protocol"). `offer` takes the caller's SDP and returns the SDP
for the callee; `answer` takes the callee's and returns the SDP for the caller; `delete` ends a
call.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

Bencodable = bytes | str | int | list[Any] | dict[str, Any]
BINARY = "/usr/bin/rtpengine"
PORT_MIN, PORT_MAX = 16000, 19999  # below Linux's ephemeral range, unused by Yotel's tests
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- bencode (BitTorrent's encoding, the ng protocol's) ------------------------------------------
def bencode(value: Bencodable) -> bytes:
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return str(len(value)).encode() + b":" + value
    if isinstance(value, bool) or not isinstance(value, int | list | dict):
        raise TypeError(f"cannot bencode {type(value).__name__}")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, list):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    items = sorted((k.encode(), v) for k, v in value.items())  # keys sorted as raw strings
    return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"


def bdecode(data: bytes) -> Any:
    """Bytes → value: strings stay bytes, except dictionary keys (str)."""
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the bencoded value")
    return value


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    kind = data[at:at + 1]
    if kind == b"i":
        end = data.index(b"e", at)
        return int(data[at + 1:end]), end + 1
    if kind in (b"l", b"d"):
        items, at = [], at + 1
        while data[at:at + 1] != b"e":
            if at >= len(data):
                raise ValueError("unterminated bencoded list or dictionary")
            item, at = _decode(data, at)
            items.append(item)
        if kind == b"l":
            return items, at + 1
        keys, values = items[0::2], items[1::2]
        return {k.decode(): v for k, v in zip(keys, values, strict=True)}, at + 1
    colon = data.index(b":", at)
    start = colon + 1
    end = start + int(data[at:colon])
    if end > len(data):
        raise ValueError("bencoded string runs past the end")
    return data[start:end], end


# -- the ng control client -------------------------------------------------------------------
class NgError(RuntimeError):
    """rtpengine answered `result: error`, or did not answer."""


class NgClient(asyncio.DatagramProtocol):
    """Commands to one rtpengine over UDP; each waits for the reply with its cookie, resent
    (UDP) after `retry_s`, at most `attempts` times."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[bytes, asyncio.Future[dict[str, Any]]] = {}

    @classmethod
    async def open(cls, port: int) -> NgClient:
        loop = asyncio.get_running_loop()
        _, client = await loop.create_datagram_endpoint(cls, remote_addr=("127.0.0.1", port))
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        cookie, _, body = data.partition(b" ")
        waiter = self._waiting.pop(cookie, None)
        if waiter is not None and not waiter.done():
            try:
                waiter.set_result(bdecode(body))
            except ValueError as exc:
                waiter.set_exception(NgError(f"unreadable ng reply: {exc}"))

    async def command(self, name: str, *, retry_s: float = 1.0, attempts: int = 3,
                      **fields: Bencodable) -> dict[str, Any]:
        assert self.transport is not None
        cookie = secrets.token_hex(8).encode()
        message = cookie + b" " + bencode({"command": name, **fields})
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[cookie] = waiter
        try:
            for _ in range(attempts):
                self.transport.sendto(message)
                try:
                    reply = await asyncio.wait_for(asyncio.shield(waiter), retry_s)
                except TimeoutError:
                    continue
                if reply.get("result") not in (b"ok", b"pong"):
                    raise NgError(f"{name}: {reply.get('error-reason', reply)!r}")
                return reply
            raise NgError(f"{name}: no reply from rtpengine after {attempts} attempts")
        finally:
            self._waiting.pop(cookie, None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- the daemon ------------------------------------------------------------------------------
def set_group_nice(pid: int, nice: int | None) -> None:
    """The scheduling weight of `pid`'s session (its autogroup, Linux with
    kernel.sched_autogroup_enabled): on a machine shared with other work, a negative value
    gives the measured process the CPU it asks for. Negative values need root."""
    if nice is not None:
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RtpEngine:
    """The daemon, in the foreground of its own process group (so nothing it starts outlives
    the bench). `stop()` is idempotent; use it in a `finally`."""

    def __init__(self, *, threads: int | None = None, port_min: int = PORT_MIN,
                 port_max: int = PORT_MAX, nice: int | None = None) -> None:
        binary = shutil.which("rtpengine") or BINARY
        if not os.path.exists(binary):
            raise FileNotFoundError("rtpengine is not installed (Debian: rtpengine-daemon)")
        self.ng_port = free_udp_port()
        args = [binary, "--config-file=none", "--foreground", "--log-stderr",
                "--log-level=4", "--table=-1", "--interface=127.0.0.1",
                f"--listen-ng=127.0.0.1:{self.ng_port}",
                f"--port-min={port_min}", f"--port-max={port_max}",
                "--timeout=600", "--silent-timeout=600"]
        if threads is not None:
            args.append(f"--num-threads={threads}")
        # Its log goes to a file: a pipe nobody reads during the run could fill and stall it.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._log,
                                        start_new_session=True)
        set_group_nice(self.process.pid, nice)

    async def started(self, timeout_s: float = 10.0) -> NgClient:
        """Wait until the ng port answers `ping`; the client to send commands with."""
        deadline = time.monotonic() + timeout_s
        client = await NgClient.open(self.ng_port)
        while True:
            if self.process.poll() is not None:
                client.close()
                raise NgError(f"rtpengine exited with {self.process.returncode}: "
                              f"{self.stderr_tail()}")
            try:
                await client.command("ping", retry_s=0.2, attempts=1)
                return client
            except NgError:
                if time.monotonic() > deadline:
                    client.close()
                    raise
            await asyncio.sleep(0.1)

    def cpu_seconds(self) -> tuple[float, float]:
        """(utime + stime, stime) of every thread of the daemon, from /proc/<pid>/stat, in
        seconds (10 ms steps)."""
        with open(f"/proc/{self.process.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        # After "pid (comm)": field 3 is fields[0], so utime (14) and stime (15) are 11 and 12.
        user, kernel = int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS
        return user + kernel, kernel

    def stderr_tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()
