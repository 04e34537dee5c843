"""`client.webhook_endpoints` and `client.webhook_deliveries` (PRODUCT.md §4, §7, scopes
`webhooks:read|write`). The signing secret `whsec_…` is in the answer to `create` and
`rotate_secret` only (`WebhookEndpointWithSecret.secret`). Verifying a delivery is
`yotel.webhooks.verify`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Literal, TypedDict, Unpack

from yotel.client.http import Call
from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource

DeliveryStatus = Literal["pending", "failed", "delivered", "dead"]


class WebhookEndpoint(Model):
    id: str
    url: str
    description: str | None = None
    events: list[str]
    enabled: bool
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    secret: str


class WebhookDelivery(Model):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    call_id: str | None = None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    latency_ms: int | None = None
    delivered_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class _Required(TypedDict):
    url: str


class WebhookEndpointCreate(_Required, total=False):
    events: list[str]  # ["*"] (the default) or event type names
    description: str | None


class WebhookEndpointUpdate(TypedDict, total=False):
    """`enabled=True` re-enables an endpoint the dispatcher disabled."""

    url: str
    events: list[str]
    description: str | None
    enabled: bool


_ENDPOINTS = Collection("/webhook-endpoints", WebhookEndpoint, WebhookEndpointCreate,
                        WebhookEndpointUpdate)
_WITH_SECRET = Collection("/webhook-endpoints", WebhookEndpointWithSecret,
                          WebhookEndpointCreate)
_DELIVERIES = Collection("/webhook-deliveries", WebhookDelivery)


def _rotate(endpoint_id: str, overlap_s: int | None) -> Call[WebhookEndpointWithSecret]:
    body = None if overlap_s is None else {"overlap_s": overlap_s}
    return _WITH_SECRET.command(endpoint_id, "rotate-secret",
                                WebhookEndpointWithSecret.model_validate, json=body)


def _deliveries(endpoint_id: str, status: DeliveryStatus | None, limit: int | None,
                cursor: str | None) -> Call[Page[WebhookDelivery]]:
    return Call("GET", f"/webhook-endpoints/{endpoint_id}/deliveries", _DELIVERIES.parse_page,
                params={"status": status, "limit": limit, "cursor": cursor})


def _retry(delivery_id: str) -> Call[WebhookDelivery]:
    return _DELIVERIES.action(delivery_id, "retry")


class WebhookEndpoints(SyncResource):
    def create(self, **fields: Unpack[WebhookEndpointCreate]) -> WebhookEndpointWithSecret:
        return self._http.run(_WITH_SECRET.create(fields))

    def get(self, endpoint_id: str) -> WebhookEndpoint:
        return self._http.run(_ENDPOINTS.get(endpoint_id))

    def list(self, *, limit: int | None = None,
             cursor: str | None = None) -> Page[WebhookEndpoint]:
        return self._http.run(_ENDPOINTS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[WebhookEndpoint]:
        return self._http.paginate(lambda cursor: _ENDPOINTS.page(limit, cursor))

    def update(self, endpoint_id: str,
               **fields: Unpack[WebhookEndpointUpdate]) -> WebhookEndpoint:
        return self._http.run(_ENDPOINTS.update(endpoint_id, fields))

    def delete(self, endpoint_id: str) -> None:
        self._http.run(_ENDPOINTS.delete(endpoint_id))

    def rotate_secret(self, endpoint_id: str, *,
                      overlap_s: int | None = None) -> WebhookEndpointWithSecret:
        """A new secret (shown once); the old one also signs for `overlap_s` (default 24 h)."""
        return self._http.run(_rotate(endpoint_id, overlap_s))

    def deliveries(self, endpoint_id: str, *, status: DeliveryStatus | None = None,
                   limit: int | None = None,
                   cursor: str | None = None) -> Page[WebhookDelivery]:
        return self._http.run(_deliveries(endpoint_id, status, limit, cursor))

    def iter_deliveries(self, endpoint_id: str, *, status: DeliveryStatus | None = None,
                        limit: int | None = None) -> Iterator[WebhookDelivery]:
        return self._http.paginate(
            lambda cursor: _deliveries(endpoint_id, status, limit, cursor))


class AsyncWebhookEndpoints(AsyncResource):
    async def create(self, **fields: Unpack[WebhookEndpointCreate]
                     ) -> WebhookEndpointWithSecret:
        return await self._http.run(_WITH_SECRET.create(fields))

    async def get(self, endpoint_id: str) -> WebhookEndpoint:
        return await self._http.run(_ENDPOINTS.get(endpoint_id))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[WebhookEndpoint]:
        return await self._http.run(_ENDPOINTS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[WebhookEndpoint]:
        return self._http.paginate(lambda cursor: _ENDPOINTS.page(limit, cursor))

    async def update(self, endpoint_id: str,
                     **fields: Unpack[WebhookEndpointUpdate]) -> WebhookEndpoint:
        return await self._http.run(_ENDPOINTS.update(endpoint_id, fields))

    async def delete(self, endpoint_id: str) -> None:
        await self._http.run(_ENDPOINTS.delete(endpoint_id))

    async def rotate_secret(self, endpoint_id: str, *,
                            overlap_s: int | None = None) -> WebhookEndpointWithSecret:
        return await self._http.run(_rotate(endpoint_id, overlap_s))

    async def deliveries(self, endpoint_id: str, *, status: DeliveryStatus | None = None,
                         limit: int | None = None,
                         cursor: str | None = None) -> Page[WebhookDelivery]:
        return await self._http.run(_deliveries(endpoint_id, status, limit, cursor))

    def iter_deliveries(self, endpoint_id: str, *, status: DeliveryStatus | None = None,
                        limit: int | None = None) -> AsyncIterator[WebhookDelivery]:
        return self._http.paginate(
            lambda cursor: _deliveries(endpoint_id, status, limit, cursor))


class WebhookDeliveries(SyncResource):
    def retry(self, delivery_id: str) -> WebhookDelivery:
        """Attempt the delivery again now (409 `ConflictError` while one is in flight)."""
        return self._http.run(_retry(delivery_id))


class AsyncWebhookDeliveries(AsyncResource):
    async def retry(self, delivery_id: str) -> WebhookDelivery:
        return await self._http.run(_retry(delivery_id))
