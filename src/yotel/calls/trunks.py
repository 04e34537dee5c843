"""Which SIP trunk a tenant's call goes through: the one asked for, else the tenant's default
(`default_trunk_id`), else none (the node's `YOTEL_OUTBOUND_TRUNK`, applied by the engine)."""

from __future__ import annotations

from sqlalchemy import select

from yotel.db.engine import Database
from yotel.db.models import Tenant
from yotel.media.engine import Trunk
from yotel.trunks.service import TrunkService


class TenantTrunks:
    def __init__(self, db: Database, trunks: TrunkService) -> None:
        self._db = db
        self._trunks = trunks

    async def trunk_for(self, tenant_id: str, trunk_id: str | None) -> Trunk | None:
        """The media engine's Trunk (digest password opened) or None; a `trunk_id` that is not
        the tenant's is a 404 (from the trunk service)."""
        chosen = trunk_id or await self._default(tenant_id)
        if chosen is None:
            return None
        out = await self._trunks.get(tenant_id, chosen)
        password = await self._trunks.open_password(tenant_id, chosen)
        return Trunk(out.host, out.port, username=out.username,
                     password=password.get_secret_value() if password else None,
                     caller_id=out.caller_id)

    async def _default(self, tenant_id: str) -> str | None:
        async with self._db.read() as session:
            return await session.scalar(
                select(Tenant.default_trunk_id).where(Tenant.id == tenant_id))
