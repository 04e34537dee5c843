"""Helpers for the dialer tests: a whole node with its dialer running (what `yotel serve` runs),
a fake AI, and what the dialer did, read from the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from yotel.counters import Counters
from yotel.db.engine import Database
from yotel.db.models import Call, Lead
from yotel.dialer.component import DialerComponent
from yotel.node import dialer_component
from yotel.settings import Settings
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.server import RunningNode, running_node

SCOPES = ("voice_agents:write", "calls:write", "campaigns:read", "campaigns:write", "leads:read",
          "leads:write", "tenant:admin")


@dataclass
class DialingNode:
    node: RunningNode
    dialer: DialerComponent
    http: httpx.AsyncClient
    ai: FakeVoiceAI
    agent_id: str

    @property
    def db(self) -> Database:
        return self.node.services.db

    async def campaign(self, *, leads: list[dict[str, Any]], **fields: Any) -> str:
        body = {"voice_agent_id": self.agent_id} | fields
        created = await self.http.post("/api/v1/campaigns", json=body)
        assert created.status_code == 201, created.text
        campaign_id: str = created.json()["id"]
        added = await self.http.post(f"/api/v1/campaigns/{campaign_id}/leads",
                                     json={"leads": leads})
        assert added.status_code in (200, 201), added.text
        return campaign_id

    async def action(self, campaign_id: str, verb: str) -> None:
        done = await self.http.post(f"/api/v1/campaigns/{campaign_id}/{verb}")
        assert done.status_code == 200, done.text

    async def status(self, campaign_id: str) -> str:
        return str((await self.http.get(f"/api/v1/campaigns/{campaign_id}")).json()["status"])

    async def leads(self, campaign_id: str) -> dict[str, Lead]:
        async with self.db.read() as session:
            rows = (await session.scalars(select(Lead).where(
                Lead.campaign_id == campaign_id))).all()
        return {row.phone: row for row in rows}

    async def calls(self, campaign_id: str) -> list[Call]:
        async with self.db.read() as session:
            return list((await session.scalars(select(Call).where(
                Call.campaign_id == campaign_id).order_by(Call.started_at))).all())


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := await check()):
            await asyncio.sleep(0.05)
        return value


@contextlib.asynccontextmanager
async def dialing_node(settings: Settings, counters: Counters, make_tenant_key: Any, *,
                       max_concurrent: int = 10, start_dialer: bool = True
                       ) -> AsyncIterator[DialingNode]:
    key = await make_tenant_key(*SCOPES)
    async with running_node(settings, counters=counters) as node, \
            FakeVoiceAI(mode="silent") as ai, \
            httpx.AsyncClient(base_url=node.base_url, headers=key.headers, timeout=10) as http:
        agent = await http.post("/api/v1/voice-agents", json={
            "name": "dialer", "ws_url": ai.url, "max_concurrent": max_concurrent})
        assert agent.status_code == 201, agent.text
        dialer = dialer_component(settings, node.services)
        if start_dialer:
            await dialer.start()
        try:
            yield DialingNode(node, dialer, http, ai, agent.json()["id"])
        finally:
            await dialer.stop()


def node_settings(make_settings: Callable[..., Settings], trunk_port: int,
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "allow_insecure_urls": True, "rtp_port_min": 43000, "rtp_port_max": 44998,
        "outbound_trunk": f"sip:127.0.0.1:{trunk_port}", "drain_timeout_s": 2.0,
        "dialer_poll_s": 0.05}
    return make_settings(**(values | overrides))


def max_overlap(calls: list[Call]) -> int:
    """The most calls up at one instant (from each row's started_at to its ended_at)."""
    edges = sorted([(c.started_at, 1) for c in calls] +
                   [(c.ended_at, -1) for c in calls if c.ended_at is not None],
                   key=lambda edge: (edge[0], edge[1]))
    live = peak = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak
