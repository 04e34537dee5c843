"""The SDK's webhook resources against the real API (async, and sync in a worker thread since
the server shares the test's loop), and a delivery verified with `yotel.webhooks.verify`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import yotel
from yotel import AsyncYotel, ConflictError, NotFoundError, ValidationError, Yotel
from yotel.settings import Settings
from yotel.testing.server import running_server
from yotel.testing.webhook_sink import WebhookSink
from yotel.webhooks import CallStarted

from .conftest import Dispatchers, Tenant


@pytest.fixture
async def insecure_api(make_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    async with running_server(make_settings(allow_insecure_urls=True)) as url:
        yield url


async def test_async_endpoints_deliveries_rotate_and_retry(
        insecure_api: str, make_tenant_key: Any, dispatchers: Dispatchers, db: Any) -> None:
    key = await make_tenant_key("webhooks:write")
    async with AsyncYotel(key.key, insecure_api) as client, WebhookSink() as sink:
        created = await client.webhook_endpoints.create(url=sink.url, events=["call.started"])
        assert created.secret.startswith("whsec_") and created.events == ["call.started"]
        assert (await client.webhook_endpoints.get(created.id)).url == sink.url
        assert [e.id async for e in client.webhook_endpoints.iter()] == [created.id]
        with pytest.raises(ValidationError):
            await client.webhook_endpoints.create(url="ftp://x.example.com/")
        tenant = Tenant(db, key.tenant_id, None)  # type: ignore[arg-type]
        dispatchers.start()
        await tenant.events(("call.started",))
        [got] = await sink.wait_for(lambda got: len(got) >= 1)
        event = yotel.webhooks.verify(got.body, got.headers, created.secret)
        assert isinstance(event, CallStarted) and event.tenant_id == key.tenant_id

        async with asyncio.timeout(5):
            while (page := await client.webhook_endpoints.deliveries(
                    created.id, status="delivered")).data == []:
                await asyncio.sleep(0.05)
        [delivery] = page.data
        assert delivery.event_id == event.id and delivery.attempts == 1
        assert delivery.last_status_code == 200 and delivery.next_attempt_at is None
        retried = await client.webhook_deliveries.retry(delivery.id)
        assert retried.status == "failed" and retried.next_attempt_at is not None
        await sink.wait_for(lambda got: len(got) >= 2)  # the same webhook-id again
        assert sink.accepted[1].webhook_id == got.webhook_id

        rotated = await client.webhook_endpoints.rotate_secret(created.id, overlap_s=60)
        assert rotated.secret != created.secret and rotated.previous_secret_expires_at
        off = await client.webhook_endpoints.update(created.id, enabled=False)
        assert off.enabled is False
        await client.webhook_endpoints.delete(created.id)
        with pytest.raises(NotFoundError):
            await client.webhook_endpoints.get(created.id)
        with pytest.raises((NotFoundError, ConflictError)):
            await client.webhook_deliveries.retry(delivery.id)


async def test_sync_client(insecure_api: str, make_tenant_key: Any) -> None:
    key = await make_tenant_key("webhooks:write")

    def use() -> list[str]:
        with Yotel(key.key, insecure_api) as client:
            created = client.webhook_endpoints.create(url="http://127.0.0.1:9/h")
            client.webhook_endpoints.update(created.id, events=["call.ended", "call.started"])
            rotated = client.webhook_endpoints.rotate_secret(created.id)
            assert client.webhook_endpoints.deliveries(created.id).data == []
            assert [e.id for e in client.webhook_endpoints.iter()] == [created.id]
            client.webhook_endpoints.delete(created.id)
            return [created.secret, rotated.secret]

    first, second = await asyncio.to_thread(use)
    assert first != second and first.startswith("whsec_")
