"""Chains: a claimed head takes its call's next waiting deliveries for the endpoint with it,
sent one at a time in order by one task. A failure hands the rest back behind the retry, a
row that is not sendable (not due, claimed elsewhere) ends the chain, and a failing endpoint
never holds up another endpoint's chains."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from yotel.db.models import WebhookDelivery
from yotel.domain.secretbox import SecretBox
from yotel.testing.webhook_sink import Received, WebhookSink
from yotel.webhooks.store import Claimed, PassPlan, dispatch_pass

from .conftest import CALL_EVENTS, FAST, TEST_SECRET, Dispatchers, Tenant


def _plan(claim_limit: int = 100, max_chain: int = 50) -> PassPlan:
    return PassPlan("node-t", 500, claim_limit, 30.0, FAST, 1e6, max_chain=max_chain)


async def _claim(tenant: Tenant, plan: PassPlan) -> list[Claimed]:
    _, claimed = await dispatch_pass(tenant.db, SecretBox(TEST_SECRET), [], plan,
                                     datetime.now(UTC))
    return claimed


def _chains(claimed: list[Claimed]) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = defaultdict(list)
    for delivery in claimed:
        chains[delivery.call_id or delivery.id].append(delivery.payload["type"])
    return chains


async def test_a_claim_takes_each_calls_waiting_events_as_one_chain_in_order(
        tenant: Tenant) -> None:
    await tenant.endpoint("http://127.0.0.1:9/hooks")
    calls = await tenant.events(calls=3, together=True)
    claimed = await _claim(tenant, _plan(claim_limit=2))
    chains = _chains(claimed)
    assert len(chains) == 2 and set(chains) < set(calls)  # two heads, each with its call
    assert all(kinds == list(CALL_EVENTS) for kinds in chains.values())
    # The rest is blocked: the third call's head is still due, nothing of the first two is.
    [(third, kinds)] = _chains(await _claim(tenant, _plan())).items()
    assert third not in chains and kinds == list(CALL_EVENTS)
    assert await _claim(tenant, _plan()) == []


async def test_a_chain_stops_before_a_delivery_that_is_not_due_and_at_max_chain(
        tenant: Tenant) -> None:
    await tenant.endpoint("http://127.0.0.1:9/hooks")
    [call] = await tenant.events(together=True)
    await _claim(tenant, _plan(claim_limit=0))  # fan out only
    async with tenant.db.write() as session:  # the third event waits for a later retry
        await session.execute(update(WebhookDelivery).where(
            WebhookDelivery.call_id == call, WebhookDelivery.sequence == 3)
            .values(status="failed", next_attempt_at=datetime.now(UTC) + timedelta(hours=1)))
    assert _chains(await _claim(tenant, _plan())) == {call: list(CALL_EVENTS[:2])}
    async with tenant.db.write() as session:
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.call_id == call)
                              .values(claimed_by=None, claimed_until=None,
                                      next_attempt_at=datetime.now(UTC)))
    assert _chains(await _claim(tenant, _plan(max_chain=4))) == {call: list(CALL_EVENTS[:4])}


async def test_a_failure_mid_chain_hands_the_rest_back_behind_the_retry(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    open_calls: Counter[str] = Counter()
    overlaps: list[str] = []

    async def respond(got: Received) -> int:
        event = json.loads(got.body)
        call = event["data"]["call_id"]
        open_calls[call] += 1
        if open_calls[call] > 1:
            overlaps.append(call)
        await asyncio.sleep(0.005)
        open_calls[call] -= 1
        return 500 if event["type"] == "ai_session.started" and got.attempt == 1 else 200

    async with WebhookSink(respond) as sink:
        endpoint_id, _ = await tenant.endpoint(sink.url)
        calls = await tenant.events(calls=4, together=True)
        dispatchers.start()
        await sink.wait_for(lambda got: len(got) >= 24, timeout=10)
    assert overlaps == []  # one request at a time per call
    order: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for got in sink.received:
        event = json.loads(got.body)
        order[event["data"]["call_id"]].append((event["type"], got.attempt))
    retried = [("call.started", 1), ("call.answered", 1), ("ai_session.started", 1),
               ("ai_session.started", 2), ("ai_session.ended", 1), ("call.ended", 1),
               ("call.recording_ready", 1)]
    assert order == {call: retried for call in calls}
    await _all_delivered_and_unclaimed(tenant, endpoint_id, 24)


async def _all_delivered_and_unclaimed(tenant: Tenant, endpoint_id: str, count: int) -> None:
    """Until the endpoint's `count` deliveries are recorded delivered, none still claimed (the
    rows a failure handed back were released, not left to lapse)."""
    async with asyncio.timeout(5):
        while True:
            async with tenant.db.read() as session:
                rows = (await session.execute(
                    select(WebhookDelivery.status, WebhookDelivery.claimed_by)
                    .where(WebhookDelivery.endpoint_id == endpoint_id))).all()
            if len(rows) == count and all(s == "delivered" and by is None for s, by in rows):
                return
            await asyncio.sleep(0.05)


async def test_a_failing_endpoint_does_not_hold_up_another(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink(lambda _: 500) as broken, WebhookSink() as healthy:
        await tenant.endpoint(broken.url)
        await tenant.endpoint(healthy.url)
        calls = await tenant.events(calls=10, together=True)
        dispatchers.start(max_per_endpoint=4, max_in_flight=8)
        await healthy.wait_for(lambda got: len(got) >= 60, timeout=5)
        await broken.wait_for(lambda _: len(broken.received) >= 20, timeout=5)
    by_call: dict[str, list[str]] = defaultdict(list)
    for got in healthy.accepted:
        event = json.loads(got.body)
        by_call[event["data"]["call_id"]].append(event["type"])
    assert by_call == {call: list(CALL_EVENTS) for call in calls}
    # The broken endpoint only ever sees each call's first event (retried): the later ones
    # wait behind it.
    assert {json.loads(got.body)["type"] for got in broken.received} == {"call.started"}


async def test_a_chain_stops_before_its_claim_could_lapse_mid_attempt(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    # Budget per attempt 2 x 0.5 s + 2 x 1 s = 3 s, lease 4.5 s: a chain goes on only while
    # an attempt started now ends before its claim lapses (its first 1.5 s), then hands the
    # rest back. Sent on for 20 x 0.3 s, its later claims would lapse mid-chain and be taken
    # (and sent) again.
    async def slow(_: Received) -> int:
        await asyncio.sleep(0.3)
        return 200

    kinds = [f"call.test_{n}" for n in range(20)]
    async with WebhookSink(slow) as sink:
        await tenant.endpoint(sink.url)
        await tenant.events(kinds, together=True)
        dispatchers.start(connect_timeout_s=0.5, read_timeout_s=1.0)
        await sink.wait_for(lambda got: len(got) >= 20, timeout=20)
    types = [json.loads(got.body)["type"] for got in sink.received]
    assert types == kinds  # in order, each once
    assert len({got.webhook_id for got in sink.received}) == 20
