from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from yotel.db.engine import Database
from yotel.db.models import ApiKey
from yotel.domain.errors import AuthenticationError, NotFound, PermissionDenied, ValidationError
from yotel.domain.ids import new_id
from yotel.tenancy.api_keys import (
    create_api_key,
    hash_key,
    revoke_api_key,
    verify_api_key,
)
from yotel.tenancy.auth import Authenticator
from yotel.tenancy.principal import CredentialKind
from yotel.tenancy.tenants import create_tenant


async def test_key_is_shown_once_and_only_its_hash_is_stored(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    created = await create_api_key(db, tenant_id=tenant.id, scopes=["calls:read"])
    assert created.key.startswith("yt_live_") and len(created.key) >= 48
    async with db.read() as session:
        row = (await session.scalars(select(ApiKey).where(ApiKey.id == created.id))).one()
    stored = [str(v) for v in (row.prefix, row.key_hash, row.scopes, row.name)]
    assert all(created.key not in value for value in stored)
    assert row.key_hash == hash_key(created.key)
    principal = await verify_api_key(db, created.key)
    assert principal.tenant_id == tenant.id
    assert principal.kind is CredentialKind.API_KEY and principal.call_id is None
    assert principal.has_scope("calls:read") and not principal.has_scope("calls:write")


async def test_bad_and_revoked_keys_are_refused(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    created = await create_api_key(db, tenant_id=tenant.id, scopes=["calls:read"])
    for wrong in ("", "yt_live_", created.key[:-1] + "x", created.key + "x", "yt_cb_abc",
                  created.key.replace("yt_live_", "yt_test_")):
        with pytest.raises(AuthenticationError):
            await verify_api_key(db, wrong)
    await revoke_api_key(db, tenant_id=tenant.id, key_id=created.id)
    with pytest.raises(AuthenticationError):
        await verify_api_key(db, created.key)
    with pytest.raises(NotFound):
        await revoke_api_key(db, tenant_id=new_id(), key_id=created.id)


async def test_scopes_are_validated(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    with pytest.raises(ValidationError, match="unknown scope"):
        await create_api_key(db, tenant_id=tenant.id, scopes=["calls:read", "god_mode"])
    with pytest.raises(ValidationError):
        await create_api_key(db, tenant_id=tenant.id, scopes=[])
    with pytest.raises(NotFound):
        await create_api_key(db, tenant_id=new_id(), scopes=["calls:read"])


async def test_last_used_at_is_recorded_at_most_once_a_minute(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    created = await create_api_key(db, tenant_id=tenant.id, scopes=["calls:read"])

    async def last_used() -> datetime | None:
        async with db.read() as session:
            row = await session.get(ApiKey, created.id)
            assert row is not None
            return row.last_used_at

    assert await last_used() is None
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    await verify_api_key(db, created.key, now=t0)
    assert await last_used() == t0
    await verify_api_key(db, created.key, now=t0 + timedelta(seconds=30))
    assert await last_used() == t0
    await verify_api_key(db, created.key, now=t0 + timedelta(seconds=61))
    assert await last_used() == t0 + timedelta(seconds=61)


async def test_authenticator_parses_bearer_and_enforces_scopes(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    created = await create_api_key(db, tenant_id=tenant.id, scopes=["voice_agents:write"])
    auth = Authenticator(db)
    principal = await auth.authenticate(f"bearer   {created.key}")
    principal.require("voice_agents:read")
    with pytest.raises(PermissionDenied):
        principal.require("tenant:admin")
    for header in (None, "", "Bearer", f"Basic {created.key}", "Bearer yt_cb_01HZX"):
        with pytest.raises(AuthenticationError):
            await auth.authenticate(header)
