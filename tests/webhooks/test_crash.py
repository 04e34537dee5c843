"""At-least-once across a crash: `yotel serve` is SIGKILLed with 1 000 events undelivered, a
new one starts, and every event arrives (duplicates allowed, identified by `webhook-id`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from yotel.testing.webhook_sink import Received, WebhookSink

from .conftest import TEST_SECRET, Tenant

YOTEL = Path(sys.executable).with_name("yotel")
EVENTS = 1000


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("YOTEL_")},
            "YOTEL_DATABASE_URL": database_url, "YOTEL_SECRET_KEY": TEST_SECRET,
            "YOTEL_API_PORT": "0", "YOTEL_SIP_PORT": "0", "YOTEL_DIALER_ENABLED": "false",
            "YOTEL_DATA_DIR": str(tmp_path / "data"),
            "YOTEL_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "YOTEL_RTP_PORT_MIN": "45000", "YOTEL_RTP_PORT_MAX": "45998",
            "YOTEL_WEBHOOK_CONNECT_TIMEOUT_S": "0.5", "YOTEL_WEBHOOK_READ_TIMEOUT_S": "3",
            "YOTEL_WEBHOOK_MAX_PER_ENDPOINT": "40",
            "YOTEL_WEBHOOK_RETRY_SCHEDULE_S": "0,0.2,0.2,0.2,0.2,0.2,0.2,0.2"}


async def _serve(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        str(YOTEL), "serve", "--dev", "--json", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    announced = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=60))
    async with httpx.AsyncClient(base_url=announced["api_url"]) as http:
        assert (await http.get("/healthz")).status_code == 200
    return proc


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def test_sigkill_with_1000_undelivered_then_restart_delivers_all(
        tenant: Tenant, database_url: str, tmp_path: Path) -> None:
    async def respond(_: Received) -> int:
        await asyncio.sleep(0.05)  # at most 800/s at 40 in flight: the kill lands mid-way
        return 200

    env = _env(database_url, tmp_path)
    async with WebhookSink(respond) as sink:
        await tenant.endpoint(sink.url)
        await tenant.events(("call.started",), calls=EVENTS, together=True)
        first = await _serve(env, tmp_path)
        try:
            await sink.wait_for(lambda got: len(got) >= 100, timeout=60)
        finally:
            await _kill(first)
        before = {got.webhook_id for got in sink.accepted}
        assert len(before) < EVENTS, "all delivered before the kill: the test proved nothing"
        second = await _serve(env, tmp_path)
        try:
            await sink.wait_for(
                lambda got: len({g.webhook_id for g in got}) >= EVENTS, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), timeout=30)
    ids = {got.webhook_id for got in sink.accepted}
    assert len(ids) == EVENTS and all(i.startswith("evt_") for i in ids)
    duplicates = len(sink.accepted) - EVENTS
    assert duplicates <= 40 * 2  # at most what the killed node had in flight, and its results
