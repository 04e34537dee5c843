"""The dispatcher on the real database against real local receivers: signatures the
`standardwebhooks` package accepts, a call's events in order per endpoint, retries on the
configured schedule, dead deliveries, filters, redirects, slow receivers, disabling."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict

import standardwebhooks
from sqlalchemy import select

from yotel.db.models import WebhookDelivery, WebhookEndpoint
from yotel.testing.webhook_sink import Received, WebhookSink
from yotel.webhooks.schedule import RetrySchedule
from yotel.webhooks.schemas import EndpointUpdate

from .conftest import CALL_EVENTS, Dispatchers, Tenant


def _by_call(received: list[Received]) -> dict[str, list[str]]:
    calls: dict[str, list[str]] = defaultdict(list)
    for got in received:
        event = json.loads(got.body)
        calls[event["data"]["call_id"]].append(event["type"])
    return calls


async def _deliveries(tenant: Tenant, endpoint_id: str) -> list[WebhookDelivery]:
    async with tenant.db.read() as session:
        rows = await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id).order_by(WebhookDelivery.sequence))
        return list(rows)


async def _settled(tenant: Tenant, endpoint_id: str, statuses: tuple[str, ...],
                   timeout: float = 5.0) -> list[WebhookDelivery]:
    """The endpoint's deliveries once each has the status at its position in `statuses`."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await _deliveries(tenant, endpoint_id)
            if [row.status for row in rows] == list(statuses):
                return rows
            await asyncio.sleep(0.05)


async def test_events_arrive_signed_and_in_order_per_call(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink() as sink:
        _, secret = await tenant.endpoint(sink.url)
        dispatchers.start()
        calls = await tenant.events(calls=4)
        await sink.wait_for(lambda got: len(got) >= 24)
    verifier = standardwebhooks.Webhook(secret)
    for got in sink.accepted:
        event = verifier.verify(got.body, got.headers)
        assert event["id"] == got.webhook_id and event["tenant_id"] == tenant.id
        assert got.headers["content-type"] == "application/json"
    assert _by_call(sink.accepted) == {call: list(CALL_EVENTS) for call in calls}
    assert len(sink.received) == 24  # no duplicates


async def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_in_order(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    def respond(got: Received) -> int:
        kind = json.loads(got.body)["type"]
        return 500 if kind == "call.answered" and got.attempt <= 3 else 200

    async with WebhookSink(respond) as sink:
        endpoint_id, _ = await tenant.endpoint(sink.url)
        dispatchers.start()
        [call] = await tenant.events()
        other = await tenant.events(calls=1)  # another call is not held up by this one
        await sink.wait_for(lambda got: len(got) >= 12)
        await _settled(tenant, endpoint_id, ("delivered",) * 12)
    assert _by_call(sink.accepted) == {call: list(CALL_EVENTS), other[0]: list(CALL_EVENTS)}
    answered = [g for g in sink.received if json.loads(g.body)["type"] == "call.answered"
                and json.loads(g.body)["data"]["call_id"] == call]
    assert [g.attempt for g in answered] == [1, 2, 3, 4]
    gaps = [b.at - a.at for a, b in itertools.pairwise(answered)]
    assert all(gap >= 0.15 for gap in gaps), gaps  # the 0.2 s (± 10 %) schedule
    rows = {row.event_type: row for row in await _deliveries(tenant, endpoint_id)
            if row.call_id == call}
    assert rows["call.answered"].attempts == 4 and rows["call.answered"].status == "delivered"
    assert rows["call.answered"].last_status_code == 200
    assert rows["call.started"].attempts == 1


async def test_dead_after_the_schedule_then_later_events_go_and_retry_delivers(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    refuse = {"on": True}

    def respond(got: Received) -> int:
        first = json.loads(got.body)["type"] == "call.started"
        return 503 if first and refuse["on"] else 200

    async with WebhookSink(respond) as sink:
        endpoint_id, _ = await tenant.endpoint(sink.url)
        dispatchers.start(schedule=RetrySchedule((0.0, 0.1, 0.1), jitter=0.0))
        await tenant.events(("call.started", "call.answered"))
        started, answered = await _settled(tenant, endpoint_id, ("dead", "delivered"))
        assert started.attempts == 3
        assert started.last_status_code == 503 and started.last_error == "HTTP 503"
        assert answered.status == "delivered"
        refuse["on"] = False
        retried = await tenant.service.retry(tenant.id, started.id)
        assert retried.status == "failed" and retried.next_attempt_at is not None
        started, _ = await _settled(tenant, endpoint_id, ("delivered", "delivered"))
    assert started.attempts == 4


async def test_event_filter_and_disabled_endpoints(tenant: Tenant,
                                                   dispatchers: Dispatchers) -> None:
    async with WebhookSink() as ended_only, WebhookSink() as everything, WebhookSink() as off:
        await tenant.endpoint(ended_only.url, ["call.ended"])
        await tenant.endpoint(everything.url)
        off_id, _ = await tenant.endpoint(off.url)
        await tenant.service.update(tenant.id, off_id, EndpointUpdate(enabled=False))
        dispatchers.start()
        await tenant.events(calls=2)
        await everything.wait_for(lambda got: len(got) >= 12)
        await ended_only.wait_for(lambda got: len(got) >= 2)
        await asyncio.sleep(0.3)
    assert {json.loads(g.body)["type"] for g in ended_only.received} == {"call.ended"}
    assert len(ended_only.received) == 2 and off.received == []


async def test_redirects_are_not_followed(tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink(lambda _: 302) as sink:
        endpoint_id, _ = await tenant.endpoint(sink.url)
        dispatchers.start(schedule=RetrySchedule((0.0,), jitter=0.0))
        await tenant.events(("call.started",))
        rows = await _settled(tenant, endpoint_id, ("dead",))
    assert rows[0].last_status_code == 302 and "redirect" in (rows[0].last_error or "")
    assert len(sink.received) == 1


async def test_rotation_signs_with_both_secrets(tenant: Tenant,
                                                dispatchers: Dispatchers) -> None:
    from yotel.webhooks.schemas import RotateSecret

    async with WebhookSink() as sink:
        endpoint_id, old = await tenant.endpoint(sink.url)
        new = (await tenant.service.rotate_secret(tenant.id, endpoint_id, RotateSecret())).secret
        dispatchers.start()
        await tenant.events(("call.started",))
        [got] = await sink.wait_for(lambda got: len(got) >= 1)
    assert len(got.headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify(got.body, got.headers)


async def test_a_slow_receiver_does_not_starve_the_others(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async def slow(_: Received) -> int:
        await asyncio.sleep(1.0)
        return 200

    async with WebhookSink(slow) as slow_sink, WebhookSink() as fast_sink:
        await tenant.endpoint(slow_sink.url)
        await tenant.endpoint(fast_sink.url)
        await tenant.events(("call.started",), calls=40, together=True)
        started = time.monotonic()
        dispatchers.start(max_per_endpoint=4, max_in_flight=8)
        await fast_sink.wait_for(lambda got: len(got) >= 40, timeout=8)
        fast_done = time.monotonic() - started
        slow_count = len(slow_sink.received)
    # 40 slow deliveries at 4 at a time need 10 s; the fast receiver got all of its 40 long
    # before, while the slow one never had more than 4 requests open.
    assert fast_done < 5.0, fast_done
    assert slow_count <= 4 * (int(fast_done) + 2)


async def test_an_endpoint_failing_too_long_is_disabled_and_can_be_re_enabled(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    healthy = {"on": False}
    async with WebhookSink(lambda _: 200 if healthy["on"] else 500) as sink:
        endpoint_id, _ = await tenant.endpoint(sink.url)
        dispatchers.start(schedule=RetrySchedule((0.0,) + (0.1,) * 30, jitter=0.0),
                          disable_after_s=0.5)
        await tenant.events(("call.started",))
        async with asyncio.timeout(5):
            while (shown := await tenant.service.get(tenant.id, endpoint_id)).enabled:
                await asyncio.sleep(0.05)
        assert shown.disabled_reason and shown.failing_since is not None
        attempts = len(sink.received)
        await asyncio.sleep(0.4)
        assert len(sink.received) <= attempts + 1  # nothing more is sent while disabled
        healthy["on"] = True
        enabled = await tenant.service.update(tenant.id, endpoint_id,
                                              EndpointUpdate(enabled=True))
        assert enabled.enabled and enabled.failing_since is None
        await sink.wait_for(lambda got: len(got) >= 1)


async def test_resolved_private_address_is_refused_at_connect_time(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink() as sink:
        # Saved while insecure URLs were allowed; this dispatcher does not allow them.
        endpoint_id, _ = await tenant.endpoint(sink.url.replace("127.0.0.1", "localhost"))
        dispatchers.start(allow_insecure=False, schedule=RetrySchedule((0.0,), jitter=0.0))
        await tenant.events(("call.started",))
        rows = await _settled(tenant, endpoint_id, ("dead",))
    assert sink.received == []
    assert rows[0].last_status_code is None and "refused" in (rows[0].last_error or "")


async def test_the_local_nudge_delivers_without_waiting_for_the_poll(
        tenant: Tenant, dispatchers: Dispatchers) -> None:
    async with WebhookSink() as sink:
        await tenant.endpoint(sink.url)
        dispatchers.start(poll_s=30.0)
        await asyncio.sleep(0.2)  # the first pass has run; the next poll is 30 s away
        written = time.time()
        await tenant.events(("call.started", "call.answered"))
        got = await sink.wait_for(lambda got: len(got) >= 2, timeout=5)
    assert got[-1].at - written < 2.0


async def test_endpoint_rows_survive_as_written(tenant: Tenant) -> None:
    endpoint_id, secret = await tenant.endpoint("http://127.0.0.1:9/x")
    async with tenant.db.read() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
    assert row is not None and secret not in row.secret_sealed and row.events == ["*"]
