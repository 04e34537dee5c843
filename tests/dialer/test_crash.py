"""SIGKILL of `yotel serve` in the middle of a campaign, then a restart: no lead is dialled
twice and every lead is dialled in the end (docs/api.md, "The dialer: crash safety"). The node
runs as a real subprocess on the test database; sipp is the phone network and logs every INVITE
it receives (-trace_msg), so "dialled" is counted on the wire, not from our own rows."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from yotel.db.engine import Database
from yotel.db.models import Call, Lead
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.sipp import sipp_running

from .scene import SCOPES, until

YOTEL = Path(sys.executable).with_name("yotel")
SECRET = "test-secret-key-not-for-production"  # the suite's (tests/conftest.py)
LEADS = 9
INVITE = re.compile(r"^INVITE sip:(\d+)@", re.MULTILINE)


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], cwd: Path) -> AsyncIterator[
        tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    proc = await asyncio.create_subprocess_exec(
        str(YOTEL), "serve", "--dev", "--json", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        announced = json.loads(await asyncio.wait_for(proc.stdout.readline(), timeout=30))
        yield proc, announced
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def node_env(database_url: str, tmp_path: Path, trunk_port: int) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("YOTEL_")}
    return base | {
        "YOTEL_DATABASE_URL": database_url, "YOTEL_SECRET_KEY": SECRET,
        "YOTEL_DATA_DIR": str(tmp_path / "data"),
        "YOTEL_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "YOTEL_API_PORT": "0", "YOTEL_SIP_PORT": "0", "YOTEL_NODE_ID": "crash-test-node",
        "YOTEL_RTP_PORT_MIN": "46000", "YOTEL_RTP_PORT_MAX": "46998",
        "YOTEL_OUTBOUND_TRUNK": f"sip:127.0.0.1:{trunk_port}", "YOTEL_DIALER_POLL_S": "0.05",
        "YOTEL_DRAIN_TIMEOUT_S": "1"}


def invites_received(directory: Path) -> collections.Counter[str]:
    """INVITEs in sipp's message logs, by number (E.164)."""
    return collections.Counter(
        "+" + number for log in directory.glob("*_messages.log")
        for number in INVITE.findall(log.read_text(errors="replace")))


async def test_sigkill_mid_campaign_then_restart_dials_each_lead_once(
        database_url: str, db: Database, make_tenant_key: Any, tmp_path: Path) -> None:
    key = await make_tenant_key(*SCOPES)
    phones = [f"+1650555{i:04d}" for i in range(LEADS)]
    async with sipp_running(scenario="uas_answer_bye", calls=1000, timeout_s=120,
                            extra=["-d", "2000", "-trace_msg"], cwd=tmp_path) as uas, \
            FakeVoiceAI(mode="silent") as ai:
        env = node_env(database_url, tmp_path, uas.port)
        async with serve(env, tmp_path) as (node, announced):
            async with httpx.AsyncClient(base_url=announced["api_url"], headers=key.headers,
                                         timeout=10) as http:
                agent = (await http.post("/api/v1/voice-agents", json={
                    "name": "crash", "ws_url": ai.url})).json()
                campaign = (await http.post("/api/v1/campaigns", json={
                    "voice_agent_id": agent["id"],
                    "pacing": {"calls_per_second": 4, "max_concurrent_calls": 3},
                    # A call cut by the crash before its answer ends `failed`: not retried
                    # here, so any second INVITE could only come from a recovery mistake.
                    "retry": {"max_attempts": 3, "retry_after_s": 0,
                              "on": ["no_answer", "busy"]}})).json()
                await http.post(f"/api/v1/campaigns/{campaign['id']}/leads",
                                json={"leads": [{"phone": p} for p in phones]})
                await http.post(f"/api/v1/campaigns/{campaign['id']}/start")

            async def calls_up(count: int) -> bool:
                async with db.read() as session:
                    live = await session.scalar(select(func.count()).select_from(Call).where(
                        Call.campaign_id == campaign["id"], Call.state == "answered"))
                    return int(live or 0) >= count

            await until(lambda: calls_up(2), timeout=20)  # some answered, more claimed
            node.send_signal(signal.SIGKILL)
            await node.wait()

        async with serve(env, tmp_path) as (node, announced), \
                httpx.AsyncClient(base_url=announced["api_url"], headers=key.headers,
                                  timeout=10) as http:

            async def completed() -> bool:
                body = (await http.get(f"/api/v1/campaigns/{campaign['id']}")).json()
                return body["status"] == "completed"

            await until(completed, timeout=45)

        await asyncio.sleep(0.5)  # sipp's message log is written as it goes
        wire = await asyncio.to_thread(invites_received, tmp_path)

    assert wire == {phone: 1 for phone in phones}  # every lead dialled, none twice
    async with db.read() as session:
        leads = (await session.scalars(select(Lead).where(
            Lead.campaign_id == campaign["id"]))).all()
        calls = (await session.scalars(select(Call).where(
            Call.campaign_id == campaign["id"]))).all()
    assert collections.Counter(c.lead_id for c in calls) == {lead.id: 1 for lead in leads}
    assert all(c.state == "ended" for c in calls)  # the crash's orphans were closed
    assert {lead.attempts for lead in leads} == {1}
    assert {lead.status for lead in leads} <= {"completed", "failed"}
    cut = [c for c in calls if c.error and "restarted" in c.error]
    assert cut, "the kill must have cut live calls, or this test proves nothing"
