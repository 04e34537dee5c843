from __future__ import annotations

import pytest

from yotel.db.engine import Database
from yotel.domain.errors import NotFound, ValidationError
from yotel.domain.ids import new_id
from yotel.domain.secretbox import SecretBox
from yotel.tenancy.tenants import create_tenant, get_tenant, update_tenant
from yotel.trunks.schemas import TrunkCreate
from yotel.trunks.service import TrunkService


async def test_create_and_update_tenant_settings(db: Database) -> None:
    tenant = await create_tenant(db, name="  Acme ")
    assert (tenant.name, tenant.timezone, tenant.default_voice_agent_id) == ("Acme", "UTC", None)
    trunk = (await TrunkService(db, SecretBox("test")).create(
        tenant.id, TrunkCreate(name="carrier", host="sip.example.com"))).id
    updated = await update_tenant(db, tenant.id, {
        "timezone": "Europe/Paris", "voice_agent_default_ws_url": "wss://ai.example.com/ws",
        "default_trunk_id": trunk}, allow_insecure_urls=False)
    assert updated.timezone == "Europe/Paris" and updated.default_trunk_id == trunk
    cleared = await update_tenant(db, tenant.id, {"voice_agent_default_ws_url": None},
                                  allow_insecure_urls=False)
    assert cleared.voice_agent_default_ws_url is None and cleared.timezone == "Europe/Paris"
    assert (await get_tenant(db, tenant.id)) == cleared


@pytest.mark.parametrize("changes", [
    {"timezone": "Mars/Olympus"}, {"timezone": None},
    {"voice_agent_default_ws_url": "ws://ai.example.com"},
    {"voice_agent_default_ws_url": "wss://127.0.0.1/ws"},
    {"default_voice_agent_id": "not-a-uuid"},
    {"default_trunk_id": "x"}, {"name": "renamed"},
])
async def test_invalid_changes_are_400(db: Database, changes: dict[str, object]) -> None:
    tenant = await create_tenant(db, name="acme")
    with pytest.raises(ValidationError):
        await update_tenant(db, tenant.id, changes, allow_insecure_urls=False)


@pytest.mark.parametrize("field", ["default_voice_agent_id", "default_trunk_id"])
async def test_a_well_formed_id_naming_nothing_is_404_unquoted(db: Database, field: str) -> None:
    tenant = await create_tenant(db, name="acme")
    missing = new_id()
    with pytest.raises(NotFound) as caught:
        await update_tenant(db, tenant.id, {field: missing}, allow_insecure_urls=False)
    assert missing not in caught.value.message and caught.value.details[0]["loc"] == ["body", field]


async def test_insecure_urls_allowed_in_dev_and_unknown_tenant(db: Database) -> None:
    tenant = await create_tenant(db, name="acme")
    updated = await update_tenant(db, tenant.id, {"voice_agent_default_ws_url": "ws://127.0.0.1:9"},
                                  allow_insecure_urls=True)
    assert updated.voice_agent_default_ws_url == "ws://127.0.0.1:9"
    with pytest.raises(NotFound):
        await get_tenant(db, new_id())
    with pytest.raises(ValidationError):
        await create_tenant(db, name="   ")
