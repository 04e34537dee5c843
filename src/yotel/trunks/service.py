"""SIP trunks: tenant-scoped CRUD. The digest password is sealed with the process secret before
it reaches the database and opened only for the dialer (`open_password`), never for a response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.fence import Keyset, own_row, tenant_page
from yotel.db.models import Campaign, SipTrunk, Tenant
from yotel.domain.bodies import invalid, sent_fields, unknown_reference
from yotel.domain.errors import Conflict, ServerError
from yotel.domain.ids import is_uuid, new_id
from yotel.domain.secretbox import SecretBox
from yotel.trunks.schemas import TrunkCreate, TrunkOut, TrunkUpdate

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TrunkService:
    db: Database
    box: SecretBox

    async def create(self, tenant_id: str, spec: TrunkCreate) -> TrunkOut:
        _check_credentials(spec.username, spec.password)
        row = SipTrunk(id=new_id(), tenant_id=tenant_id, name=spec.name, host=spec.host,
                       port=spec.port, transport=spec.transport, username=spec.username,
                       password_sealed=self._seal(spec.password), caller_id=spec.caller_id)
        async with self.db.write() as session:
            session.add(row)
        return to_out(row)

    async def get(self, tenant_id: str, trunk_id: str) -> TrunkOut:
        async with self.db.read() as session:
            return to_out(await own_row(session, SipTrunk, tenant_id, trunk_id, "SIP trunk"))

    async def list(self, tenant_id: str, *, limit: int, after: Keyset | None) -> list[TrunkOut]:
        async with self.db.read() as session:
            rows = (await session.scalars(tenant_page(SipTrunk, tenant_id, limit, after))).all()
            return [to_out(row) for row in rows]

    async def update(self, tenant_id: str, trunk_id: str, patch: TrunkUpdate) -> TrunkOut:
        changes: dict[str, Any] = sent_fields(patch)
        if "password" in changes:
            changes["password_sealed"] = self._seal(changes.pop("password"))
        async with self.db.write() as session:
            row = await own_row(session, SipTrunk, tenant_id, trunk_id, "SIP trunk")
            for name, value in changes.items():
                setattr(row, name, value)
            if row.password_sealed is not None and row.username is None:
                raise Conflict("username: the trunk's password needs a username (RFC 3261 "
                               "§22.4 digest)", details=[{
                                   "loc": ["body", "username"], "type": "conflict",
                                   "msg": "the trunk's password needs a username"}])
            await session.flush()
            return to_out(row)

    async def delete(self, tenant_id: str, trunk_id: str) -> None:
        """Delete, or 409 while the trunk is the tenant's default or a campaign's trunk."""
        async with self.db.write() as session:
            row = await own_row(session, SipTrunk, tenant_id, trunk_id, "SIP trunk")
            reason = await _in_use(session, tenant_id, trunk_id)
            if reason is not None:
                raise Conflict(f"SIP trunk is in use: {reason}")
            await session.delete(row)

    async def open_password(self, tenant_id: str, trunk_id: str) -> SecretStr | None:
        """The digest password, for the dialer's answer to a 401/407 challenge."""
        async with self.db.read() as session:
            row = await own_row(session, SipTrunk, tenant_id, trunk_id, "SIP trunk")
        if row.password_sealed is None:
            return None
        try:
            return SecretStr(self.box.open(row.password_sealed))
        except ValueError as exc:
            log.error("SIP trunk %s: password cannot be decrypted (was the secret key changed?)",
                      trunk_id)
            raise ServerError("the SIP trunk's password cannot be decrypted") from exc

    def _seal(self, password: str | None) -> str | None:
        return None if password is None else self.box.seal(password)


async def check_own_trunk(session: AsyncSession, tenant_id: str, trunk_id: str,
                          field: str) -> None:
    """404 naming `field` unless `trunk_id` is a trunk of this tenant (references in bodies)."""
    row = await session.get(SipTrunk, trunk_id) if is_uuid(trunk_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise unknown_reference(field, "SIP trunk")


async def _in_use(session: AsyncSession, tenant_id: str, trunk_id: str) -> str | None:
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is not None and tenant.default_trunk_id == trunk_id:
        return "it is the tenant's default_trunk_id; change the tenant default first"
    campaign = (await session.scalars(select(Campaign.id).where(
        Campaign.tenant_id == tenant_id, Campaign.trunk_id == trunk_id).limit(1))).first()
    return None if campaign is None else f"used by campaign {campaign}"


def _check_credentials(username: str | None, password: str | None) -> None:
    if password is not None and username is None:
        raise invalid("username", "a password needs a username (RFC 3261 §22.4 digest)")


def to_out(row: SipTrunk) -> TrunkOut:
    return TrunkOut(id=row.id, name=row.name, host=row.host, port=row.port,
                    transport=row.transport, username=row.username,
                    has_password=row.password_sealed is not None, caller_id=row.caller_id,
                    created_at=row.created_at, updated_at=row.updated_at)
