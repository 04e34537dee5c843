"""Webhook endpoints (tenant-scoped CRUD, secret rotation) and their deliveries (list, retry).
The signing secret is sealed with the process secret before it reaches the database; it is
returned in clear only in the answer to create and rotate."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, after_keyset, own_row, tenant_page
from yotel.db.models import WebhookDelivery, WebhookEndpoint
from yotel.domain.bodies import sent_fields
from yotel.domain.errors import Conflict, NotFound
from yotel.domain.ids import is_uuid, new_id
from yotel.domain.secretbox import SecretBox
from yotel.domain.urls import check_tenant_url
from yotel.webhooks.schemas import (
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    RotateSecret,
)
from yotel.webhooks.signature import generate_secret

NOUN = "webhook endpoint"


@dataclass(slots=True)
class WebhookService:
    db: Database
    box: SecretBox
    allow_insecure_urls: bool

    async def create(self, tenant_id: str, spec: EndpointCreate) -> EndpointWithSecret:
        self._check_url(spec.url)
        secret = generate_secret()
        row = WebhookEndpoint(id=new_id(), tenant_id=tenant_id, url=spec.url,
                              description=spec.description, events=spec.events,
                              secret_sealed=self.box.seal(secret), enabled=True)
        async with self.db.write() as session:
            session.add(row)
        return EndpointWithSecret(**to_out(row).model_dump(), secret=secret)

    async def get(self, tenant_id: str, endpoint_id: str) -> EndpointOut:
        async with self.db.read() as session:
            return to_out(await own_row(session, WebhookEndpoint, tenant_id, endpoint_id, NOUN))

    async def list(self, tenant_id: str, *, limit: int,
                   after: Keyset | None) -> list[EndpointOut]:
        async with self.db.read() as session:
            rows = await session.scalars(tenant_page(WebhookEndpoint, tenant_id, limit, after))
            return [to_out(row) for row in rows]

    async def update(self, tenant_id: str, endpoint_id: str,
                     patch: EndpointUpdate) -> EndpointOut:
        changes: dict[str, Any] = sent_fields(patch)
        if "url" in changes:
            self._check_url(changes["url"])
        async with self.db.write() as session:
            row = await own_row(session, WebhookEndpoint, tenant_id, endpoint_id, NOUN,
                                for_update=True)
            if changes.get("enabled") is True and not row.enabled:
                # Re-enabled by the tenant: the failure clock starts again.
                row.disabled_reason = None
                row.failing_since = None
            elif changes.get("enabled") is False and row.enabled:
                row.disabled_reason = "disabled by the tenant"
            for name, value in changes.items():
                setattr(row, name, value)
            await session.flush()
            return to_out(row)

    async def delete(self, tenant_id: str, endpoint_id: str) -> None:
        async with self.db.write() as session:
            row = await own_row(session, WebhookEndpoint, tenant_id, endpoint_id, NOUN)
            await session.delete(row)

    async def rotate_secret(self, tenant_id: str, endpoint_id: str,
                            spec: RotateSecret) -> EndpointWithSecret:
        """A new secret; the current one keeps signing (a second signature in the header) for
        `overlap_s`, so receivers can switch without losing a delivery."""
        secret = generate_secret()
        now = datetime.now(UTC)
        async with self.db.write() as session:
            row = await own_row(session, WebhookEndpoint, tenant_id, endpoint_id, NOUN,
                                for_update=True)
            row.previous_secret_sealed = row.secret_sealed if spec.overlap_s else None
            row.previous_secret_expires_at = (
                now + timedelta(seconds=spec.overlap_s) if spec.overlap_s else None)
            row.secret_sealed = self.box.seal(secret)
            await session.flush()
            return EndpointWithSecret(**to_out(row).model_dump(), secret=secret)

    async def deliveries(self, tenant_id: str, endpoint_id: str, *, limit: int,
                         after: Keyset | None, status: str | None) -> builtins.list[DeliveryOut]:
        async with self.db.read() as session:
            await own_row(session, WebhookEndpoint, tenant_id, endpoint_id, NOUN)
            query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            if status is not None:
                query = query.where(WebhookDelivery.status == status)
            rows = await session.scalars(
                after_keyset(query, WebhookDelivery, after).limit(limit))
            return [delivery_out(row) for row in rows]

    async def retry(self, tenant_id: str, delivery_id: str) -> DeliveryOut:
        """Send the delivery again now (one more attempt, whatever its status), or 409 while
        an attempt is in flight."""
        now = datetime.now(UTC)
        async with self.db.write() as session:
            row = await _own_delivery(session, tenant_id, delivery_id)
            if row.claimed_until is not None and row.claimed_until > now:
                raise Conflict("an attempt of this delivery is in flight; retry when it ends")
            row.status = "pending" if row.attempts == 0 else "failed"
            row.next_attempt_at = now
            row.claimed_by = row.claimed_until = None
            await session.flush()
            return delivery_out(row)

    def _check_url(self, url: str) -> None:
        check_tenant_url(url, "http", allow_insecure=self.allow_insecure_urls, field="url")


async def _own_delivery(session: AsyncSession, tenant_id: str,
                        delivery_id: str) -> WebhookDelivery:
    row = (await session.get(WebhookDelivery, delivery_id, with_for_update=True)
           if is_uuid(delivery_id) else None)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    return row


def to_out(row: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=row.id, url=row.url, description=row.description, events=list(row.events),
        enabled=row.enabled, disabled_reason=row.disabled_reason,
        failing_since=row.failing_since,
        previous_secret_expires_at=row.previous_secret_expires_at,
        created_at=row.created_at, updated_at=row.updated_at)


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    waiting = row.status in ("pending", "failed")
    return DeliveryOut(
        id=row.id, endpoint_id=row.endpoint_id, event_id=row.event_id,
        event_type=row.event_type, call_id=row.call_id, status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts, next_attempt_at=row.next_attempt_at if waiting else None,
        last_status_code=row.last_status_code, last_error=row.last_error,
        latency_ms=row.latency_ms, delivered_at=row.delivered_at, created_at=row.created_at,
        updated_at=row.updated_at)
