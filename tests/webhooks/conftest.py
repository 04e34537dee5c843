"""Helpers for the dispatcher tests: a tenant with endpoints, events written to the outbox as
the call layer writes them, and dispatchers run on the session's real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete

from yotel.calls.history import envelope, new_event_id
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent, WebhookEndpoint
from yotel.domain.secretbox import SecretBox
from yotel.tenancy.tenants import create_tenant
from yotel.webhooks.component import stop_between_passes
from yotel.webhooks.dispatcher import Dispatcher, DispatcherConfig
from yotel.webhooks.schedule import RetrySchedule
from yotel.webhooks.schemas import EndpointCreate
from yotel.webhooks.sender import SenderConfig
from yotel.webhooks.service import WebhookService
from yotel.webhooks.wakeup import watch_outbox

TEST_SECRET = "test-secret-key-not-for-production"
CALL_EVENTS = ("call.started", "call.answered", "ai_session.started", "ai_session.ended",
               "call.ended", "call.recording_ready")
FAST = RetrySchedule((0.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2), jitter=0.1)


@dataclass
class Tenant:
    db: Database
    id: str
    service: WebhookService

    async def endpoint(self, url: str, events: Sequence[str] = ("*",)) -> tuple[str, str]:
        """A new endpoint: (id, secret)."""
        created = await self.service.create(self.id, EndpointCreate(url=url, events=list(events)))
        return created.id, created.secret

    async def events(self, kinds: Sequence[str] = CALL_EVENTS, *, calls: int = 1,
                     together: bool = False) -> list[str]:
        """Write each call's `kinds` in causal order, calls interleaved (as concurrent calls
        write them), one transaction per event (or all in one when `together`); the call ids."""
        ids = [str(uuid.uuid4()) for _ in range(calls)]
        rows = [outbox_row(self.id, call_id, kind, sequence)
                for sequence, kind in enumerate(kinds, start=1) for call_id in ids]
        for batch in ([rows] if together else [[row] for row in rows]):
            async with self.db.write() as session:
                session.add_all(batch)
        return ids


def outbox_row(tenant_id: str, call_id: str | None, kind: str, sequence: int) -> OutboxEvent:
    now = datetime.now(UTC)
    event_id = new_event_id()
    data: dict[str, Any] = {"call_id": call_id}
    if kind == "call.recording_ready":
        data.update(stereo=True, channels={"left": "caller", "right": "ai"}, duration_s=1.0,
                    url="https://yotel.example/rec.wav")
    return OutboxEvent(id=event_id, tenant_id=tenant_id, call_id=call_id, type=kind,
                       payload=envelope(event_id, kind, tenant_id, now, data),
                       sequence=sequence, created_at=now)


@pytest.fixture
async def tenant(db: Database) -> AsyncIterator[Tenant]:
    row = await create_tenant(db, name="webhooks")
    yield Tenant(db, row.id, WebhookService(db, SecretBox(TEST_SECRET), True))
    # The session database outlives the test: leave no deliveries for later tests' dispatchers.
    async with db.write() as session:
        await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.tenant_id == row.id))


@dataclass
class Dispatchers:
    db: Database
    running: list[tuple[Dispatcher, asyncio.Task[None], Callable[[], None]]] = field(
        default_factory=list)

    def start(self, *, node_id: str = "node-a", schedule: RetrySchedule = FAST,
              allow_insecure: bool = True, connect_timeout_s: float = 2.0,
              read_timeout_s: float = 5.0, **options: Any) -> Dispatcher:
        sender = SenderConfig(connect_timeout_s=connect_timeout_s,
                              read_timeout_s=read_timeout_s, allow_insecure=allow_insecure)
        config = DispatcherConfig(node_id=node_id, schedule=schedule, sender=sender,
                                  **{"poll_s": 0.05, **options})
        dispatcher = Dispatcher(self.db, SecretBox(TEST_SECRET), config)
        unwatch = watch_outbox(self.db, dispatcher.nudge)
        task = asyncio.create_task(dispatcher.run(), name=f"dispatcher:{node_id}")
        self.running.append((dispatcher, task, unwatch))
        return dispatcher

    async def stop(self) -> None:
        for dispatcher, task, unwatch in self.running:
            unwatch()
            await stop_between_passes(dispatcher, task)
            await dispatcher.close(1.0)
        self.running.clear()


@pytest.fixture
async def dispatchers(db: Database) -> AsyncIterator[Dispatchers]:
    running = Dispatchers(db)
    try:
        yield running
    finally:
        await running.stop()
