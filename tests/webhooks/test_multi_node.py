"""Several dispatchers (nodes) on one real database never send the same attempt at once:
claims are exclusive (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the writer lock on SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

from yotel.domain.secretbox import SecretBox
from yotel.testing.webhook_sink import Received, WebhookSink
from yotel.webhooks.store import PassPlan, dispatch_pass

from .conftest import CALL_EVENTS, FAST, TEST_SECRET, Dispatchers, Tenant


async def test_two_dispatchers_share_the_work_and_never_overlap(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    open_now: Counter[str] = Counter()
    overlaps: list[str] = []

    async def respond(got: Received) -> int:
        open_now[got.webhook_id] += 1
        if open_now[got.webhook_id] > 1:
            overlaps.append(got.webhook_id)
        await asyncio.sleep(0.01)  # long enough for the other node to try the same row
        open_now[got.webhook_id] -= 1
        return 200

    async with WebhookSink(respond) as sink:
        await tenant.endpoint(sink.url)
        await tenant.events(calls=30, together=True)  # 180 events, all due at once
        first = dispatchers.start(node_id="node-a")
        second = dispatchers.start(node_id="node-b")
        await sink.wait_for(lambda got: len(got) >= 180, timeout=60)
        assert first.config.node_id != second.config.node_id
    assert overlaps == []
    assert len(sink.received) == 180  # every claim exclusive: nothing sent twice
    assert len({got.webhook_id for got in sink.received}) == 180
    calls: dict[str, list[str]] = defaultdict(list)
    for got in sink.received:
        event = json.loads(got.body)
        calls[event["data"]["call_id"]].append(event["type"])
    assert all(kinds == list(CALL_EVENTS) for kinds in calls.values())


async def test_a_crashed_nodes_claim_lapses_and_another_node_delivers(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink() as sink:
        await tenant.endpoint(sink.url)
        await tenant.events(("call.started",))
        # A node claims the delivery with a 0.5 s lease, then dies before sending it.
        plan = PassPlan("dead-node", 500, 500, 0.5, FAST, 1e6)
        _, claimed = await dispatch_pass(tenant.db, SecretBox(TEST_SECRET), [], plan,
                                         datetime.now(UTC))
        assert [c.payload["type"] for c in claimed] == ["call.started"]
        dispatchers.start(node_id="node-b")
        await asyncio.sleep(0.3)
        assert sink.received == []  # still the dead node's claim
        await sink.wait_for(lambda got: len(got) >= 1, timeout=5)
