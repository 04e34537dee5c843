"""Run baresip (Debian's `baresip-core`) as a third-party softphone in tests.

`async with baresip_running(...) as phone:` starts baresip on 127.0.0.1 with its own
configuration directory (no user config is read), an `aufile` audio source (a WAV file at
8 kHz), the `sndfile` filter recording what it sends and hears, `menu` for call commands and
`ctrl_tcp` to drive it: `await phone.command("dial", uri)`, `await phone.wait_event(
"CALL_ESTABLISHED")`, `await phone.command("hold")`. baresip quits by itself after `timeout_s`
(`-t`), and is killed when the block exits.

ctrl_tcp speaks JSON in netstrings (`len:payload,`): commands `{"command", "params",
"token"}`, answered `{"response": true, "ok", "data", "token"}`; events `{"event": true,
"type", ...}` arrive unasked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yotel.testing.audio import tone, wav_bytes
from yotel.testing.sipp import free_udp_port

BARESIP = "baresip"
MODULES = Path("/usr/lib/baresip/modules")
RTP_PORTS = range(20000, 31900)  # clear of sipp's (11000+) and the kernel's ephemeral range
CTRL_PORTS = range(40000, 44000)
_STARTUP_S = 5.0
LOG = "baresip.log"


@dataclass(frozen=True)
class BaresipOptions:
    """One softphone: its account's answer mode and codecs, and what it sends."""

    answer_mode: str = "auto"  # auto-answers incoming calls; "manual" rings
    codecs: str = "PCMU/8000/1"  # account audio_codecs
    audio: Path | None = None  # WAV at 8 kHz mono; default a 440 Hz tone
    timeout_s: float = 30.0  # baresip's own -t: it quits after this, whatever happens
    user: str = "baresip"


def config_text(*, sip_port: int, ctrl_port: int, rtp_ports: tuple[int, int], audio: Path,
                records: Path) -> str:
    return "\n".join([
        f"module_path {MODULES}", "poll_method epoll",
        f"sip_listen 127.0.0.1:{sip_port}",
        f"audio_source aufile,{audio}", "audio_player aubridge,none",
        "audio_alert aubridge,none", f"rtp_ports {rtp_ports[0]}-{rtp_ports[1]}",
        "rtcp_mux no", "module g711.so", "module aufile.so", "module aubridge.so",
        "module sndfile.so", "module_tmp account.so", "module_app menu.so",
        "module_app ctrl_tcp.so", f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
        f"snd_path {records}", ""])


def free_tcp_port(ports: range = CTRL_PORTS) -> int:
    for _ in range(200):
        port = random.randrange(ports.start, ports.stop)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free TCP port")


def encode_netstring(payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload).encode()
    return str(len(data)).encode() + b":" + data + b","


class BaresipError(RuntimeError):
    """baresip refused a command, died, or did not answer in time."""


@dataclass
class Baresip:
    process: asyncio.subprocess.Process
    sip_port: int
    workdir: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    _reader: asyncio.StreamReader | None = field(default=None, repr=False)
    _writer: asyncio.StreamWriter | None = field(default=None, repr=False)
    _pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _event_added: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _tokens: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def uri(self) -> str:
        return f"sip:baresip@127.0.0.1:{self.sip_port}"

    @property
    def records(self) -> Path:
        """sndfile's directory: `dump-<call>-enc.wav` (sent) and `-dec.wav` (heard)."""
        return self.workdir / "records"

    async def connect(self, ctrl_port: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _STARTUP_S
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1",
                                                                           ctrl_port)
                break
            except OSError:
                if self.process.returncode is not None or loop.time() > deadline:
                    raise BaresipError(f"baresip did not start: {self.output()}") from None
                await asyncio.sleep(0.05)
        self._task = asyncio.create_task(self._read_loop(), name="baresip-ctrl")

    async def command(self, name: str, params: str = "", timeout: float = 5.0) -> str:
        """Run a command; its text answer, or BaresipError when it failed."""
        if self._writer is None:
            raise BaresipError("not connected")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        self._writer.write(encode_netstring({"command": name, "params": params,
                                             "token": token}))
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BaresipError(f"no answer to {name!r}") from None
        finally:
            self._pending.pop(token, None)
        if not reply.get("ok", False):
            raise BaresipError(f"{name} {params}: {reply.get('data')}")
        return str(reply.get("data", ""))

    async def wait_event(self, kind: str, timeout: float = 10.0, *,
                         after: int = 0) -> dict[str, Any]:
        """The first event of `kind` (e.g. CALL_ESTABLISHED) at index >= `after`."""
        async with asyncio.timeout(timeout):
            while True:
                found = next((e for e in self.events[after:] if e.get("type") == kind), None)
                if found is not None:
                    return found
                self._event_added.clear()
                await self._event_added.wait()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                size = int((await self._reader.readuntil(b":"))[:-1])
                message = json.loads((await self._reader.readexactly(size + 1))[:-1])
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("response"):
            future = self._pending.get(str(message.get("token")))
            if future is not None and not future.done():
                future.set_result(message)
        elif message.get("event"):
            self.events.append(message)
            self._event_added.set()

    def output(self) -> str:
        """The end of baresip's console output so far (its log file), for failure messages."""
        try:
            return (self.workdir / LOG).read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    async def stop(self) -> str:
        """Quit (killed after 3 s) and return its console output, for failure messages."""
        if self.process.returncode is None and self._writer is not None:
            with contextlib.suppress(BaresipError, ConnectionError):
                await self.command("quit", timeout=1)
        try:
            await asyncio.wait_for(self.process.wait(), 3)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.output()


async def start_baresip(options: BaresipOptions, workdir: Path) -> Baresip:
    binary = shutil.which(BARESIP)
    if binary is None:
        raise BaresipError("baresip is not installed (apt-get install baresip-core)")
    audio = options.audio or workdir / "source.wav"
    if options.audio is None:
        audio.write_bytes(wav_bytes(tone(440, 20)))
    (workdir / "records").mkdir(exist_ok=True)
    sip_port, ctrl_port = free_udp_port(), free_tcp_port()
    low = random.randrange(RTP_PORTS.start, RTP_PORTS.stop - 40, 2)
    (workdir / "config").write_text(config_text(
        sip_port=sip_port, ctrl_port=ctrl_port, rtp_ports=(low, low + 39), audio=audio,
        records=workdir / "records"))
    (workdir / "accounts").write_text(
        f"<sip:{options.user}@127.0.0.1>;regint=0;answermode={options.answer_mode};"
        f"audio_codecs={options.codecs}\n")
    with (workdir / LOG).open("wb") as log:  # a file: a full pipe would stall baresip
        process = await asyncio.create_subprocess_exec(
            binary, "-f", str(workdir), "-t", str(max(1, round(options.timeout_s))),
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            cwd=workdir)
    phone = Baresip(process, sip_port, workdir)
    try:
        await phone.connect(ctrl_port)
    except BaseException:
        await phone.stop()
        raise
    return phone


@contextlib.asynccontextmanager
async def baresip_running(options: BaresipOptions | None = None,
                          workdir: Path | None = None) -> AsyncIterator[Baresip]:
    """baresip for the block; its directory is removed after unless `workdir` was given."""
    owned = Path(tempfile.mkdtemp(prefix="yotel-baresip-")) if workdir is None else None
    phone = await start_baresip(options or BaresipOptions(), owned or workdir or Path())
    try:
        yield phone
    finally:
        await phone.stop()
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
