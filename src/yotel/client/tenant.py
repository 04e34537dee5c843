"""`client.tenant` (PRODUCT.md §4): the calling key's own tenant (scope `tenant:admin`)."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from yotel.client.http import Call
from yotel.client.models import Tenant
from yotel.client.resource import AsyncResource, SyncResource, fields_of


class TenantUpdate(TypedDict, total=False):
    """Fields of `update`; `None` clears a default (agent, lazy-create URL, trunk)."""

    default_voice_agent_id: str | None
    voice_agent_default_ws_url: str | None
    default_trunk_id: str | None
    timezone: str


def _get() -> Call[Tenant]:
    return Call("GET", "/tenant", Tenant.model_validate)


def _update(fields: Any) -> Call[Tenant]:
    return Call("PATCH", "/tenant", Tenant.model_validate, json=fields_of(TenantUpdate, fields))


class TenantResource(SyncResource):
    def get(self) -> Tenant:
        return self._http.run(_get())

    def update(self, **fields: Unpack[TenantUpdate]) -> Tenant:
        return self._http.run(_update(fields))


class AsyncTenantResource(AsyncResource):
    async def get(self) -> Tenant:
        return await self._http.run(_get())

    async def update(self, **fields: Unpack[TenantUpdate]) -> Tenant:
        return await self._http.run(_update(fields))
