"""Acceptance: SIP trunks over real HTTP: CRUD, the write-only digest password, scope
`tenant:admin`, tenant fence, the tenant's `default_trunk_id`, 409 while in use."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from yotel.db.engine import Database
from yotel.db.models import SipTrunk

from .envelope import assert_error, walk

BASE = "/api/v1/sip-trunks"
SECRET = "digest-pw-7c1e"


def _trunk(**fields: Any) -> dict[str, Any]:
    return {"name": "carrier", "host": "sip.carrier.example", **fields}


async def test_crud_and_password_is_write_only(
        http: httpx.AsyncClient, make_tenant_key: Any, db: Database,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tk = await make_tenant_key("tenant:admin")
    created = await http.post(BASE, headers=tk.headers, json=_trunk(
        port=5080, username="acme", password=SECRET, caller_id="+14155550100"))
    assert created.status_code == 201, created.text
    trunk = created.json()
    assert (trunk["host"], trunk["port"], trunk["transport"], trunk["username"],
            trunk["has_password"], trunk["caller_id"]) == (
        "sip.carrier.example", 5080, "udp", "acme", True, "+14155550100")
    assert "password" not in trunk and trunk["created_at"].endswith("Z")
    url = f"{BASE}/{trunk['id']}"
    assert (await http.get(url, headers=tk.headers)).json() == trunk
    async with db.read() as session:
        row = (await session.scalars(select(SipTrunk).where(SipTrunk.id == trunk["id"]))).one()
    assert row.password_sealed and SECRET not in row.password_sealed  # sealed at rest
    patched = (await http.patch(url, headers=tk.headers, json={"password": None,
                                                               "port": 5060})).json()
    assert (patched["has_password"], patched["port"], patched["username"]) == (
        False, 5060, "acme")
    listed = await walk(http, BASE, tk.headers, limit=1)
    assert [t["id"] for t in listed] == [trunk["id"]]
    assert (await http.delete(url, headers=tk.headers)).status_code == 204
    assert_error(await http.get(url, headers=tk.headers), 404, "not_found")
    responses = [created, await http.get("/openapi.json")]
    assert all(SECRET not in r.text for r in responses)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("body", [
    _trunk(host="bad host"), _trunk(host="-x.example"), _trunk(port=0), _trunk(port="5060"),
    _trunk(transport="tcp"), _trunk(password="p"), _trunk(caller_id="+1 415"),
    _trunk(extra=1), {"host": "x.example"}, _trunk(name="a\x00b"),
])
async def test_invalid_bodies_are_400(http: httpx.AsyncClient, make_tenant_key: Any,
                                      body: dict[str, Any]) -> None:
    tk = await make_tenant_key("tenant:admin")
    assert_error(await http.post(BASE, headers=tk.headers, json=body), 400, "validation_error")


async def test_ip_hosts_and_patch_keeping_credentials_consistent(
        http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("tenant:admin")
    for host in ("127.0.0.1", "[::1]", "2001:db8::1"):
        response = await http.post(BASE, headers=tk.headers, json=_trunk(host=host))
        assert response.status_code == 201, response.text
    trunk = (await http.post(BASE, headers=tk.headers, json=_trunk(
        username="u", password="p"))).json()
    error = assert_error(await http.patch(f"{BASE}/{trunk['id']}", headers=tk.headers,
                                          json={"username": None}), 409, "conflict")
    assert error["details"][0]["loc"] == ["body", "username"]


async def test_scope_and_tenant_fence(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    a = await make_tenant_key("tenant:admin")
    b = await make_tenant_key("tenant:admin")
    outsider = await make_tenant_key("campaigns:write", "voice_agents:write",
                                     tenant_id=a.tenant_id)
    trunk = (await http.post(BASE, headers=a.headers, json=_trunk())).json()
    url = f"{BASE}/{trunk['id']}"
    for response in (await http.get(url, headers=b.headers),
                     await http.patch(url, headers=b.headers, json={"name": "x"}),
                     await http.delete(url, headers=b.headers),
                     await http.get(f"{BASE}/not-a-uuid", headers=a.headers)):
        assert_error(response, 404, "not_found")
    assert (await http.get(BASE, headers=b.headers)).json()["data"] == []
    assert_error(await http.get(BASE, headers=outsider.headers), 403, "permission_denied")


async def test_tenant_default_trunk_is_checked_and_protected(
        http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("tenant:admin", "campaigns:write")
    other = await make_tenant_key("tenant:admin")
    mine = (await http.post(BASE, headers=tk.headers, json=_trunk())).json()
    foreign = (await http.post(BASE, headers=other.headers, json=_trunk())).json()
    for trunk_id in (foreign["id"], "00000000-0000-4000-8000-000000000000"):
        error = assert_error(await http.patch("/api/v1/tenant", headers=tk.headers,
                                              json={"default_trunk_id": trunk_id}),
                             404, "not_found")
        assert error["details"][0]["loc"] == ["body", "default_trunk_id"]
    tenant = await http.patch("/api/v1/tenant", headers=tk.headers,
                              json={"default_trunk_id": mine["id"]})
    assert tenant.status_code == 200 and tenant.json()["default_trunk_id"] == mine["id"]
    error = assert_error(await http.delete(f"{BASE}/{mine['id']}", headers=tk.headers),
                         409, "conflict")
    assert "default_trunk_id" in error["message"]
    await http.patch("/api/v1/tenant", headers=tk.headers, json={"default_trunk_id": None})
    campaign = (await http.post("/api/v1/campaigns", headers=tk.headers,
                                json={"trunk_id": mine["id"]})).json()
    error = assert_error(await http.delete(f"{BASE}/{mine['id']}", headers=tk.headers),
                         409, "conflict")
    assert campaign["id"] in error["message"]
    await http.delete(f"/api/v1/campaigns/{campaign['id']}", headers=tk.headers)
    assert (await http.delete(f"{BASE}/{mine['id']}", headers=tk.headers)).status_code == 204
