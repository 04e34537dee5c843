"""Tenants: creation (CLI) and the tenant settings resource (`GET/PATCH /api/v1/tenant`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.engine import Database
from yotel.db.models import SipTrunk, Tenant, VoiceAgent
from yotel.domain.errors import NotFound, ValidationError
from yotel.domain.ids import is_uuid, new_id
from yotel.domain.urls import check_ws_url

EDITABLE_FIELDS = frozenset(
    {"default_voice_agent_id", "voice_agent_default_ws_url", "default_trunk_id", "timezone"})


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: str
    name: str
    default_voice_agent_id: str | None
    voice_agent_default_ws_url: str | None
    default_trunk_id: str | None
    timezone: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Tenant) -> TenantRecord:
        return cls(id=row.id, name=row.name, default_voice_agent_id=row.default_voice_agent_id,
                   voice_agent_default_ws_url=row.voice_agent_default_ws_url,
                   default_trunk_id=row.default_trunk_id, timezone=row.timezone,
                   created_at=row.created_at, updated_at=row.updated_at)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _invalid("timezone", "unknown IANA time zone") from exc
    return name


async def create_tenant(db: Database, *, name: str, timezone: str = "UTC") -> TenantRecord:
    if not name.strip():
        raise _invalid("name", "must not be empty")
    row = Tenant(id=new_id(), name=name.strip(), timezone=check_timezone(timezone))
    async with db.write() as session:
        session.add(row)
    return TenantRecord.from_row(row)


async def get_tenant(db: Database, tenant_id: str) -> TenantRecord:
    async with db.read() as session:
        row = await session.get(Tenant, tenant_id)
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found")
        return TenantRecord.from_row(row)


async def update_tenant(db: Database, tenant_id: str, changes: Mapping[str, Any], *,
                        allow_insecure_urls: bool) -> TenantRecord:
    """Apply `changes` (only the fields the client sent; None clears a nullable field)."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise _invalid(sorted(unknown)[0], "not an editable tenant field")
    clean = _validate_changes(changes, allow_insecure_urls)
    async with db.write() as session:
        row = await session.get(Tenant, tenant_id, with_for_update=True)
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found")
        agent_id = clean.get("default_voice_agent_id")
        if agent_id is not None:
            await _check_own_agent(session, tenant_id, agent_id)
        trunk_id = clean.get("default_trunk_id")
        if trunk_id is not None:
            await _check_own_trunk(session, tenant_id, trunk_id)
        for field, value in clean.items():
            setattr(row, field, value)
        await session.flush()
        return TenantRecord.from_row(row)


def _validate_changes(changes: Mapping[str, Any], allow_insecure_urls: bool) -> dict[str, Any]:
    clean = dict(changes)
    if clean.get("timezone", "UTC") is None:
        raise _invalid("timezone", "must not be null")
    if "timezone" in clean:
        check_timezone(clean["timezone"])
    url = clean.get("voice_agent_default_ws_url")
    if url is not None:
        check_ws_url(url, allow_insecure=allow_insecure_urls, field="voice_agent_default_ws_url")
    for field in ("default_voice_agent_id", "default_trunk_id"):
        value = clean.get(field)
        if value is not None and not is_uuid(value):
            raise _invalid(field, "must be a UUID")
    return clean


async def _check_own_agent(session: AsyncSession, tenant_id: str, agent_id: str) -> None:
    agent = await session.get(VoiceAgent, agent_id)
    if agent is None or agent.tenant_id != tenant_id:
        raise _unknown("default_voice_agent_id", "no such voice agent in this tenant")


async def _check_own_trunk(session: AsyncSession, tenant_id: str, trunk_id: str) -> None:
    trunk = await session.get(SipTrunk, trunk_id)
    if trunk is None or trunk.tenant_id != tenant_id:
        raise _unknown("default_trunk_id", "no such SIP trunk in this tenant")


def _unknown(field: str, message: str) -> NotFound:
    """A well-formed id naming nothing of this tenant: 404, like the object's own URL would be
    (schema-valid, so not a 400), and without quoting the id."""
    return NotFound(f"{field}: {message}", details=[
        {"loc": ["body", field], "msg": message, "type": "not_found"}])


def _invalid(field: str, message: str) -> ValidationError:
    detail = {"loc": ["body", field], "msg": message, "type": "value_error"}
    return ValidationError(f"{field}: {message}", details=[detail])
