"""`client.sip_trunks` (PRODUCT.md §4, scope `tenant:admin`): where outbound calls leave.
`password` is write-only: responses say `has_password`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Literal, TypedDict, Unpack

from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource


class SipTrunk(Model):
    id: str
    name: str
    host: str
    port: int
    transport: str
    username: str | None = None
    has_password: bool
    caller_id: str | None = None
    created_at: datetime
    updated_at: datetime


class SipTrunkUpdate(TypedDict, total=False):
    """Fields of `update`; `None` clears `username`, `password`, `caller_id`."""

    name: str
    host: str
    port: int
    transport: Literal["udp"]
    username: str | None
    password: str | None
    caller_id: str | None


class _Required(TypedDict):
    name: str
    host: str


class SipTrunkCreate(_Required, total=False):
    port: int
    transport: Literal["udp"]
    username: str | None
    password: str | None
    caller_id: str | None


_TRUNKS = Collection("/sip-trunks", SipTrunk, SipTrunkCreate, SipTrunkUpdate)


class SipTrunks(SyncResource):
    def create(self, **fields: Unpack[SipTrunkCreate]) -> SipTrunk:
        return self._http.run(_TRUNKS.create(fields))

    def get(self, trunk_id: str) -> SipTrunk:
        return self._http.run(_TRUNKS.get(trunk_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[SipTrunk]:
        return self._http.run(_TRUNKS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[SipTrunk]:
        return self._http.paginate(lambda cursor: _TRUNKS.page(limit, cursor))

    def update(self, trunk_id: str, **fields: Unpack[SipTrunkUpdate]) -> SipTrunk:
        return self._http.run(_TRUNKS.update(trunk_id, fields))

    def delete(self, trunk_id: str) -> None:
        """409 `ConflictError` while the trunk is the tenant default or a campaign's."""
        self._http.run(_TRUNKS.delete(trunk_id))


class AsyncSipTrunks(AsyncResource):
    async def create(self, **fields: Unpack[SipTrunkCreate]) -> SipTrunk:
        return await self._http.run(_TRUNKS.create(fields))

    async def get(self, trunk_id: str) -> SipTrunk:
        return await self._http.run(_TRUNKS.get(trunk_id))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[SipTrunk]:
        return await self._http.run(_TRUNKS.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[SipTrunk]:
        return self._http.paginate(lambda cursor: _TRUNKS.page(limit, cursor))

    async def update(self, trunk_id: str, **fields: Unpack[SipTrunkUpdate]) -> SipTrunk:
        return await self._http.run(_TRUNKS.update(trunk_id, fields))

    async def delete(self, trunk_id: str) -> None:
        await self._http.run(_TRUNKS.delete(trunk_id))
