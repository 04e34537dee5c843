"""Control API benchmark: `get_call_state` and `log` against live calls at rising rates.

    python bench/control.py --seconds 10 [--calls 100] [--rates 100,250,500] [--backend sqlite]
    python bench/control.py --seconds 10 --backend postgres   # 127.0.0.1:5432/test + Redis

A real `yotel serve` runs as a subprocess (so the load generator does not share its loop); it
places `--calls` calls to a sipp UAS, each with a silent voice AI served from this process. The
generator then sends verbs open-loop at each rate (half get_call_state, half log, round-robin
over the calls: the plane allows 10/s per call, so the rate needs rate/10 calls, and rate/5
leave room for arrivals bunched by jitter) with a tenant
key holding `ai_sessions:control_admin`, on keep-alive connections of a minimal HTTP/1.1 client
(`rawhttp.py`: httpx would make the generator the bottleneck). Latency is from send to full
response. `node_cpu_ms`
is the node's CPU time (user + system, from /proc) per verb answered at that rate, less what
the calls' media costs idle (`idle_node_cpu_share`): on a shared machine a better guide than
latency. The last line of output is one JSON
object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from echo_ws import EchoServerProtocol
from rawhttp import RawClient

from yotel.testing.sipp import free_udp_port, start_sipp

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"
YOTEL = str(Path(sys.executable).with_name("yotel"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rates", default="100,250,500", help="verbs/s, comma-separated")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--verbs", default="get_call_state,log",
                        help="the verbs sent in turn, comma-separated (get_call_state, log)")
    return parser.parse_args()


def quantile_ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@contextlib.asynccontextmanager
async def silent_ai() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: EchoServerProtocol("audio.drachtio.org", lambda _f: False, lambda: None),
        "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ai"
    finally:
        server.close()


def node_env(work: Path, backend: str) -> dict[str, str]:
    env = {**os.environ, "YOTEL_API_PORT": str(free_tcp_port()),
           "YOTEL_SIP_PORT": str(free_udp_port()), "YOTEL_RTP_PORT_MIN": "46000",
           "YOTEL_RTP_PORT_MAX": "47998", "YOTEL_ALLOW_INSECURE_URLS": "true",
           "YOTEL_DATA_DIR": str(work), "YOTEL_RECORDINGS_DIR": str(work / "recordings"),
           "YOTEL_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'yotel.db'}"}
    if backend == "postgres":
        env |= {"YOTEL_DATABASE_URL": PG_URL, "YOTEL_REDIS_URL": REDIS_URL}
    return env


def free_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([YOTEL, *args, "--json"], env=env, check=True, capture_output=True,
                          text=True)
    return dict(json.loads(done.stdout))


async def start_node(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        YOTEL, "serve", "--json", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    return process, json.loads(line)["api_url"]


async def place_calls(http: httpx.AsyncClient, agent_id: str, uri: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        reply = await http.post("/api/v1/calls", json={"to": uri, "voice_agent_id": agent_id})
        reply.raise_for_status()
        ids.append(reply.json()["id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = (await http.get("/api/v1/calls", params={"state": "answered",
                                                        "limit": 200})).json()
        if len(page["data"]) >= count:
            return ids
        await asyncio.sleep(0.2)
    raise RuntimeError("the calls were not all answered in 30 s")


async def idle_share(pid: int, seconds: float = 3.0) -> float:
    """The node's CPU share with its calls up and no verbs: what the calls' media costs."""
    before, started = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return round((cpu_seconds(pid) - before) / (time.monotonic() - started), 3)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def run_rate(http: RawClient, calls: list[str], rate: float,
                   seconds: float, node_pid: int, idle: float, verbs: list[str]
                   ) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    tasks: list[asyncio.Task[None]] = []

    async def one(n: int) -> None:
        call_id = calls[n % len(calls)]
        event = verbs[n % len(verbs)]
        body = {"event": event, "metadata": {"n": n}} if event == "log" else {"event": event}
        started = time.perf_counter()
        try:
            status, _ = await http.post(f"/api/v1/ai-sessions/{call_id}/control", body)
            code = str(status)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            code = type(exc).__name__
        if code == "200":
            latencies.append(time.perf_counter() - started)
        else:
            errors[code] = errors.get(code, 0) + 1

    loop = asyncio.get_running_loop()
    cpu_before, own_before = cpu_seconds(node_pid), time.process_time()
    start, total = loop.time(), int(rate * seconds)
    for n in range(total):  # open loop: requests leave on schedule, whatever the latency
        await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    node_cpu = cpu_seconds(node_pid) - cpu_before
    return {"rate": rate, "sent": total, "ok": len(latencies), "errors": errors,
            "node_cpu_ms": round(1000 * (node_cpu - idle * elapsed) / max(1, len(latencies)),
                                 3),
            "node_cpu_share": round(node_cpu / elapsed, 2),
            "generator_cpu_share": round((time.process_time() - own_before) / elapsed, 2),
            "throughput": round(len(latencies) / elapsed, 1),
            "p50_ms": quantile_ms(latencies, 0.5), "p99_ms": quantile_ms(latencies, 0.99),
            "mean_ms": round(1000 * statistics.fmean(latencies), 2) if latencies else None}


def prepare(env: dict[str, str]) -> str:
    """Schema, a tenant and its key, through the CLI as an operator would; the key."""
    subprocess.run([YOTEL, "db", "upgrade"], env=env, check=True, capture_output=True)
    tenant = cli(env, "tenants", "create", "--name", "bench")["id"]
    return str(cli(env, "api-keys", "create", "--tenant", tenant, "--scope",
                   "voice_agents:write", "--scope", "calls:write", "--scope", "calls:read",
                   "--scope", "ai_sessions:control_admin")["key"])


async def measure(args: argparse.Namespace, env: dict[str, str], key: str) -> list[Any]:
    rates = [float(r) for r in args.rates.split(",")]
    process, api_url = await start_node(env)
    sipp = await start_sipp(scenario="uas", calls=args.calls, timeout_s=600)
    results = []
    try:
        async with silent_ai() as ai_url, httpx.AsyncClient(
                base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30,
                limits=httpx.Limits(max_connections=200)) as http:
            agent = (await http.post("/api/v1/voice-agents", json={
                "name": "bench", "ws_url": ai_url, "max_concurrent": 1000})).json()
            calls = await place_calls(http, agent["id"], f"sip:bench@127.0.0.1:{sipp.port}",
                                      args.calls)
            idle = await idle_share(process.pid)
            print(json.dumps({"idle_node_cpu_share": idle}), flush=True)
            raw = RawClient(api_url, {"Authorization": f"Bearer {key}"})
            try:
                for rate in rates:
                    result = await run_rate(raw, calls, rate, args.seconds, process.pid, idle,
                                            args.verbs.split(","))
                    print(json.dumps(result), flush=True)
                    results.append(result)
            finally:
                raw.close()
    finally:
        process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 40)
        await sipp.stop()
    return results


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = node_env(Path(tmp), args.backend)
        key = prepare(env)
        results = asyncio.run(measure(args, env, key))
    print(json.dumps({"backend": args.backend, "calls": args.calls, "seconds": args.seconds,
                      "rates": results}))


if __name__ == "__main__":
    main()
