"""Acceptance for the `yotel` command: --json output, keys that authenticate, hashes only."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from yotel.cli.main import main
from yotel.db import migrate
from yotel.db.engine import Database
from yotel.db.models import ApiKey, Tenant
from yotel.settings import Settings
from yotel.sip.ua import UserAgent
from yotel.testing.server import running_server

YOTEL = Path(sys.executable).with_name("yotel")


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith("YOTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    env = {"YOTEL_DATABASE_URL": database_url, "YOTEL_DATA_DIR": str(tmp_path / "data")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr().out.strip()
    return code, json.loads(out) if out else None


async def test_tenant_and_key_via_cli_authenticate(
        cli_env: dict[str, str], capsys: pytest.CaptureFixture[str], db: Database,
        make_settings: Callable[..., Settings], counters: Any) -> None:
    code, tenant = await _run(capsys, "tenants", "create", "--name", "Acme", "--json")
    assert code == 0 and set(tenant) == {"id"}
    code, created = await _run(capsys, "api-keys", "create", "--tenant", tenant["id"],
                               "--scope", "voice_agents:write", "--scope", "tenant:admin",
                               "--json")
    assert code == 0 and created["key"].startswith("yt_live_") and created["id"]
    async with db.read() as session:
        row = (await session.scalars(select(ApiKey).where(ApiKey.id == created["id"]))).one()
        assert (await session.get(Tenant, tenant["id"])) is not None
    assert row.key_hash == hashlib.sha256(created["key"].encode()).hexdigest()
    assert all(created["key"] not in str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
    headers = {"Authorization": f"Bearer {created['key']}"}
    async with (running_server(make_settings(), counters=counters) as url,
                httpx.AsyncClient(base_url=url) as http):
        me = await http.get("/api/v1/tenant", headers=headers)
        agents = await http.post("/api/v1/voice-agents", headers=headers,
                                 json={"name": "a", "ws_url": "wss://ai.example.com"})
    assert me.status_code == 200 and me.json()["name"] == "Acme"
    assert agents.status_code == 201


async def test_cli_errors(cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    _, tenant = await _run(capsys, "tenants", "create", "--name", "Acme", "--json")
    code, out = await _run(capsys, "api-keys", "create", "--tenant", tenant["id"],
                           "--scope", "voice_agents:write", "--scope", "root", "--json")
    assert code == 1 and out["error"]["type"] == "validation_error"
    assert "root" in out["error"]["message"]
    code, out = await _run(capsys, "api-keys", "create", "--tenant",
                           "00000000-0000-4000-8000-000000000000", "--scope", "calls:read",
                           "--json")
    assert code == 1 and out["error"]["type"] == "not_found"
    code, out = await _run(capsys, "db", "upgrade", "--json")
    assert code == 0 and out == {"revision": migrate.head_revision()}


async def test_console_script_on_a_fresh_sqlite_database(tmp_path: Path) -> None:
    # The installed entry point, from an unrelated directory, on a database that does not exist
    # yet: the embedded database migrates itself on first use.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("YOTEL_")},
           "YOTEL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"}
    proc = await asyncio.create_subprocess_exec(
        str(YOTEL), "tenants", "create", "--name", "Fresh", "--json", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert set(json.loads(out)) == {"id"}
    assert (tmp_path / "data" / "secret_key").exists()  # generated on first run


async def test_serve_starts_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("YOTEL_")},
           "YOTEL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
           "YOTEL_API_PORT": "0", "YOTEL_SIP_PORT": "0", "YOTEL_DRAIN_TIMEOUT_S": "1"}
    proc = await asyncio.create_subprocess_exec(
        str(YOTEL), "serve", "--dev", "--json", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        announced = json.loads(line)
        async with httpx.AsyncClient(base_url=announced["api_url"]) as http:
            assert (await http.get("/healthz")).json() == {"ok": True}
            assert (await http.get("/readyz")).status_code == 200
        host, port = announced["sip"].removeprefix("udp:").rsplit(":", 1)
        ua = UserAgent("127.0.0.1", 0)  # the node answers SIP too (PRODUCT.md §1)
        await ua.start()
        try:
            assert (await ua.options(f"sip:ping@{host}:{port}")).status == 200
        finally:
            await ua.close()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
