"""Run sipp (Debian's `sip-tester`) as a third-party SIP peer in tests.

`await run_sipp(...)` starts sipp on 127.0.0.1 with a scenario (a built-in name or one of the XML
files shipped in `yotel/testing/scenarios/`), waits for it within a timeout, and returns its exit
code, output, error log and final statistics (`-trace_stat`: `result.successful`, `.failed`,
`.stats[column]`). `start_sipp(...)` returns the running process for tests that act meanwhile;
it returns once sipp's SIP socket is bound, so the test may send to it at once.

sipp runs in a private temporary directory (its `*_errors.log` never lands in the checkout); the
error log is read into `SippResult.errors` before the directory goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

SIPP = "sipp"
# Below Linux's ephemeral range (32768+) and clear of the RTP ranges the tests use.
SIPP_PORTS = range(11000, 19998)
BUILTIN = ("uas", "uac")
_PROC_UDP = Path("/proc/net/udp")
STATS_FILE = "sipp_stats.csv"
# Values for the `[key]`s shipped scenarios use, so callers name only those they change.
DEFAULT_KEYS = {"qop": ""}  # uas_auth: appended to its challenge, e.g. ', qop="auth"'


def scenario_path(name: str) -> Path:
    """Path of a shipped scenario, e.g. `scenario_path("uas_hold")`."""
    path = Path(str(resources.files("yotel.testing") / "scenarios" / f"{name}.xml"))
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def free_udp_port(even: bool = False, ports: range = SIPP_PORTS) -> int:
    """A UDP port on 127.0.0.1 that is free now, from `ports` (even: also `port + 2` free, for
    sipp's audio and video RTP). Drawn outside the kernel's ephemeral range, so sockets bound
    to port 0 meanwhile (any test's) cannot take it before sipp binds it."""
    for _ in range(200):
        port = random.randrange(ports.start, ports.stop)
        if even:
            port -= port % 2
        if all(_bindable(p) for p in ((port, port + 2) if even else (port,))):
            return port
    raise RuntimeError("no free UDP port")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    errors: str = ""  # sipp's -trace_err log: why a call failed
    stats: dict[str, str] = field(default_factory=dict)  # last -trace_stat row, by column

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def successful(self) -> int:
        """Calls sipp counted as successful over the whole run."""
        return int(self.stats.get("SuccessfulCall(C)") or 0)

    @property
    def failed(self) -> int:
        return int(self.stats.get("FailedCall(C)") or 0)

    @property
    def report(self) -> str:
        """Enough to see why sipp failed, for assertion messages."""
        return (f"sipp exit {self.returncode}\n--- errors\n{self.errors[-3000:]}\n--- stdout\n"
                f"{self.stdout[-2000:]}\n--- stderr\n{self.stderr[-1000:]}")


@dataclass
class SippProcess:
    process: asyncio.subprocess.Process
    port: int
    media_port: int
    workdir: Path | None = None
    _owned_dir: Path | None = field(default=None, repr=False)  # ours to delete

    async def wait(self, timeout: float = 30.0) -> SippResult:
        """Wait for sipp to finish (killed after `timeout` seconds, then returncode != 0)."""
        try:
            out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            out, err = await self.process.communicate()
        code = self.process.returncode
        result = SippResult(code if code is not None else -1, out.decode(errors="replace"),
                            err.decode(errors="replace"), self._error_log(), self._stats())
        self._cleanup()
        return result

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.communicate()
        self._cleanup()

    def _error_log(self) -> str:
        if self.workdir is None:
            return ""
        logs = sorted(self.workdir.glob("*_errors.log"))
        return "\n".join(p.read_text(errors="replace") for p in logs)

    def _stats(self) -> dict[str, str]:
        path = self.workdir / STATS_FILE if self.workdir is not None else None
        if path is None or not path.exists():
            return {}
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle, delimiter=";"))
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}

    def _cleanup(self) -> None:
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None


def sipp_args(*, scenario: str, port: int, media_port: int, remote: tuple[str, int] | None,
              calls: int, timeout_s: float, rtp_echo: bool, keys: dict[str, str],
              extra: list[str]) -> list[str]:
    binary = shutil.which(SIPP)
    if binary is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    args = [binary, "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port), "-m", str(calls),
            "-nostdin", "-timeout", f"{max(1, round(timeout_s))}s", "-timeout_error",
            "-max_recv_loops", "1000", "-trace_err", "-trace_stat", "-stf", STATS_FILE]
    args += ["-sn", scenario] if scenario in BUILTIN else ["-sf", str(scenario_path(scenario))]
    if rtp_echo:
        args.append("-rtp_echo")
    for key, value in (DEFAULT_KEYS | keys).items():
        args += ["-key", key, value]
    args += extra
    if remote is not None:
        args.append(f"{remote[0]}:{remote[1]}")
    return args


async def start_sipp(*, scenario: str, remote: tuple[str, int] | None = None,
                     port: int | None = None, media_port: int | None = None,
                     calls: int = 1, timeout_s: float = 20.0, rtp_echo: bool = False,
                     keys: dict[str, str] | None = None, extra: list[str] | None = None,
                     cwd: Path | None = None) -> SippProcess:
    """Start sipp. `scenario` is a built-in (`uas`, `uac`) or a shipped XML name; `keys` become
    `-key name value` (used as `[name]` in scenarios); sipp gives up after `timeout_s`. Ports
    left to us are chosen free; if sipp still dies binding one (a race), it is retried."""
    for attempt in range(3):
        chosen_port = port or free_udp_port()
        chosen_media = media_port or free_udp_port(even=True)
        args = sipp_args(scenario=scenario, port=chosen_port, media_port=chosen_media,
                         remote=remote, calls=calls, timeout_s=timeout_s, rtp_echo=rtp_echo,
                         keys=keys or {}, extra=extra or [])
        owned = Path(tempfile.mkdtemp(prefix="yotel-sipp-")) if cwd is None else None
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=owned or cwd)
        sipp = SippProcess(process, chosen_port, chosen_media, owned or cwd, owned)
        await _wait_bound(process, chosen_port)
        retry = process.returncode is not None and port is None and media_port is None
        if not retry or attempt == 2:
            return sipp
        await sipp.stop()
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def sipp_running(**kw: Any) -> AsyncIterator[SippProcess]:
    """`async with sipp_running(scenario=...) as sipp:` -- sipp is killed (and its directory
    removed) when the block exits, whatever happened in it."""
    sipp = await start_sipp(**kw)
    try:
        yield sipp
    finally:
        await sipp.stop()


async def _wait_bound(process: asyncio.subprocess.Process, port: int,
                      limit_s: float = 5.0) -> None:
    """Until sipp's UDP socket shows up in /proc/net/udp (or sipp exits, or `limit_s`)."""
    needle = f":{port:04X} "
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while process.returncode is None and loop.time() < deadline:
        try:
            if needle in await asyncio.to_thread(_PROC_UDP.read_text):
                return
        except OSError:  # no procfs: give sipp a moment to bind
            await asyncio.sleep(0.3)
            return
        await asyncio.sleep(0.02)


async def run_sipp(*, scenario: str, timeout_s: float = 20.0,
                   remote: tuple[str, int] | None = None, port: int | None = None,
                   media_port: int | None = None, calls: int = 1, rtp_echo: bool = False,
                   keys: dict[str, str] | None = None,
                   extra: list[str] | None = None) -> SippResult:
    """Start sipp and wait for it to finish (at most `timeout_s` + 10 s)."""
    sipp = await start_sipp(scenario=scenario, remote=remote, port=port, media_port=media_port,
                            calls=calls, timeout_s=timeout_s, rtp_echo=rtp_echo, keys=keys,
                            extra=extra)
    return await sipp.wait(timeout_s + 10)
