"""Run sipp (Debian's `sip-tester`) as a third-party SIP peer in tests.

`await run_sipp(...)` starts sipp on 127.0.0.1 with a scenario (a built-in name or one of the XML
files shipped in `yotel/testing/scenarios/`), waits for it within a timeout, and returns its exit
code and output. `start_sipp(...)` returns the running process for tests that act meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SIPP = "sipp"


def scenario_path(name: str) -> Path:
    """Path of a shipped scenario, e.g. `scenario_path("uas_hold")`."""
    path = Path(str(resources.files("yotel.testing") / "scenarios" / f"{name}.xml"))
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def free_udp_port(even: bool = False) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not even or port % 2 == 0:
            return port
    raise RuntimeError("no free UDP port")


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class SippProcess:
    process: asyncio.subprocess.Process
    port: int
    media_port: int

    async def wait(self, timeout: float = 30.0) -> SippResult:
        try:
            out, err = await asyncio.wait_for(self.process.communicate(), timeout)
        except TimeoutError:
            self.process.kill()
            out, err = await self.process.communicate()
        return SippResult(self.process.returncode if self.process.returncode is not None else -1,
                          out.decode(errors="replace"), err.decode(errors="replace"))

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.communicate()


async def start_sipp(*, scenario: str, remote: tuple[str, int] | None = None,
                     port: int | None = None, media_port: int | None = None,
                     calls: int = 1, timeout_s: float = 20.0, rtp_echo: bool = False,
                     keys: dict[str, str] | None = None, extra: list[str] | None = None,
                     cwd: Path | None = None) -> SippProcess:
    """Start sipp. `scenario` is a built-in (`uas`, `uac`) or a shipped XML name."""
    binary = shutil.which(SIPP)
    if binary is None:
        raise RuntimeError("sipp is not installed (apt-get install sip-tester)")
    port = port or free_udp_port()
    media_port = media_port or free_udp_port(even=True)
    args = [binary, "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port), "-m", str(calls),
            "-nostdin", "-timeout", f"{int(timeout_s)}s", "-timeout_error", "-max_recv_loops",
            "1000"]
    args += ["-sn", scenario] if scenario in ("uas", "uac") else ["-sf",
                                                                   str(scenario_path(scenario))]
    if rtp_echo:
        args.append("-rtp_echo")
    for key, value in (keys or {}).items():
        args += ["-key", key, value]
    args += extra or []
    if remote is not None:
        args.append(f"{remote[0]}:{remote[1]}")
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=cwd)
    await asyncio.sleep(0.2)  # let sipp bind its socket before a test sends to it
    return SippProcess(process, port, media_port)


async def run_sipp(*, timeout_s: float = 20.0, **kw: object) -> SippResult:
    proc = await start_sipp(timeout_s=timeout_s, **kw)  # type: ignore[arg-type]
    return await proc.wait(timeout_s + 10)
