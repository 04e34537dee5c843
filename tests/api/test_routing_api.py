"""Acceptance: DND, numbers, human agents and agent queues over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .envelope import assert_error, walk


async def test_dnd_add_list_get_delete(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("leads:write")
    added = await http.post("/api/v1/dnd", headers=tk.headers, json={"numbers": [
        "+14155550100", "+14155550100", "415", "+14155550101"]})
    assert added.status_code == 200, added.text
    assert added.json() == {"created": 2, "rejected": [
        {"index": 1, "reason": "duplicate", "phone": "+14155550100"},
        {"index": 2, "reason": "bad_phone", "phone": None}]}
    again = (await http.post("/api/v1/dnd", headers=tk.headers,
                             json={"numbers": ["+14155550101"]})).json()
    assert again["created"] == 0 and again["rejected"][0]["reason"] == "duplicate"
    entries = await walk(http, "/api/v1/dnd", tk.headers, limit=1)
    assert [e["phone"] for e in entries] == ["+14155550100", "+14155550101"]
    by_id = await http.get(f"/api/v1/dnd/{entries[0]['id']}", headers=tk.headers)
    by_number = await http.get("/api/v1/dnd/+14155550100", headers=tk.headers)
    assert by_id.json() == by_number.json() == entries[0]
    assert (await http.delete("/api/v1/dnd/%2B14155550101",
                              headers=tk.headers)).status_code == 204
    assert_error(await http.get("/api/v1/dnd/+14155550101", headers=tk.headers),
                 404, "not_found")
    other = await make_tenant_key("leads:write")
    assert_error(await http.get(f"/api/v1/dnd/{entries[0]['id']}", headers=other.headers),
                 404, "not_found")
    assert_error(await http.get("/api/v1/dnd/+14155550100", headers=other.headers),
                 404, "not_found")
    reader = await make_tenant_key("leads:read", tenant_id=tk.tenant_id)
    assert_error(await http.post("/api/v1/dnd", headers=reader.headers,
                                 json={"numbers": ["+14155550102"]}), 403, "permission_denied")
    assert_error(await http.post("/api/v1/dnd", headers=tk.headers, json={"numbers": []}),
                 400, "validation_error")


async def test_numbers_unique_per_platform_and_flow_fenced(http: httpx.AsyncClient,
                                                           make_tenant_key: Any) -> None:
    a = await make_tenant_key("numbers:write", "flows:write")
    b = await make_tenant_key("numbers:write", "flows:write")
    flow_body = {"name": "f", "entry": "h", "nodes": [{"id": "h", "type": "hangup"}]}
    flow_a = (await http.post("/api/v1/flows", headers=a.headers, json=flow_body)).json()
    flow_b = (await http.post("/api/v1/flows", headers=b.headers, json=flow_body)).json()
    created = await http.post("/api/v1/numbers", headers=a.headers,
                              json={"e164": "+14155550177", "flow_id": flow_a["id"]})
    assert created.status_code == 201, created.text
    number = created.json()
    assert (number["e164"], number["flow_id"]) == ("+14155550177", flow_a["id"])
    assert_error(await http.post("/api/v1/numbers", headers=b.headers,
                                 json={"e164": "+14155550177"}), 409, "conflict")
    for body in ({"e164": "14155550178"}, {"e164": "+14155550178", "extra": True}):
        assert_error(await http.post("/api/v1/numbers", headers=a.headers, json=body),
                     400, "validation_error")
    assert_error(await http.post("/api/v1/numbers", headers=a.headers, json={
        "e164": "+14155550178", "flow_id": flow_b["id"]}), 404, "not_found")
    url = f"/api/v1/numbers/{number['id']}"
    assert_error(await http.patch(url, headers=a.headers, json={"flow_id": flow_b["id"]}),
                 404, "not_found")
    assert (await http.patch(url, headers=a.headers,
                             json={"flow_id": None})).json()["flow_id"] is None
    assert_error(await http.get(url, headers=b.headers), 404, "not_found")
    assert [n["id"] for n in await walk(http, "/api/v1/numbers", a.headers, limit=5)] == [
        number["id"]]
    assert (await http.delete(url, headers=a.headers)).status_code == 204
    again = await http.post("/api/v1/numbers", headers=b.headers, json={"e164": "+14155550177"})
    assert again.status_code == 201, again.text


@pytest.mark.parametrize("contact", ["+14155550100", "sip:alice@pbx.example.com",
                                     "sips:bob@10.0.0.5:5061"])
async def test_agents_accept_sip_uris_and_e164(http: httpx.AsyncClient, make_tenant_key: Any,
                                               contact: str) -> None:
    tk = await make_tenant_key("tenant:admin")
    created = await http.post("/api/v1/agents", headers=tk.headers,
                              json={"name": "Alice", "contact": contact})
    assert created.status_code == 201, created.text
    agent = created.json()
    assert (agent["role"], agent["on_duty"], agent["contact"]) == ("agent", True, contact)


@pytest.mark.parametrize("body", [
    {"name": "A", "contact": "alice"}, {"name": "A", "contact": "tel:+14155550100"},
    {"name": "A", "contact": "sip:alice@pbx example.com"}, {"name": "A", "contact": "sip:"},
    {"name": "A", "contact": "+1415", "role": "boss"}, {"name": "A", "contact": "+14155550100",
                                                        "on_duty": "yes"},
])
async def test_invalid_agents_are_400(http: httpx.AsyncClient, make_tenant_key: Any,
                                      body: dict[str, Any]) -> None:
    tk = await make_tenant_key("tenant:admin")
    assert_error(await http.post("/api/v1/agents", headers=tk.headers, json=body),
                 400, "validation_error")


async def test_agent_queues(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("tenant:admin")
    other = await make_tenant_key("tenant:admin")
    ids = [(await http.post("/api/v1/agents", headers=tk.headers, json={
        "name": f"a{i}", "contact": f"sip:a{i}@pbx.example.com", "on_duty": i != 1,
        "role": "supervisor" if i == 2 else "agent"})).json()["id"] for i in range(3)]
    foreign = (await http.post("/api/v1/agents", headers=other.headers, json={
        "name": "x", "contact": "+14155550100"})).json()["id"]
    created = await http.post("/api/v1/agent-queues", headers=tk.headers, json={
        "name": "support", "agent_ids": [ids[2], ids[0]], "strategy": "round_robin"})
    assert created.status_code == 201, created.text
    queue = created.json()
    assert (queue["agent_ids"], queue["strategy"]) == ([ids[2], ids[0]], "round_robin")
    assert_error(await http.post("/api/v1/agent-queues", headers=tk.headers,
                                 json={"name": "support"}), 409, "conflict")
    assert (await http.post("/api/v1/agent-queues", headers=other.headers,
                            json={"name": "support"})).status_code == 201
    for body in ({"name": "q2", "agent_ids": [ids[0]] * 2}, {"name": "q2", "strategy": "x"}):
        assert_error(await http.post("/api/v1/agent-queues", headers=tk.headers, json=body),
                     400, "validation_error")
    assert_error(await http.post("/api/v1/agent-queues", headers=tk.headers, json={
        "name": "q2", "agent_ids": [foreign]}), 404, "not_found")
    url = f"/api/v1/agent-queues/{queue['id']}"
    patched = (await http.patch(url, headers=tk.headers, json={"agent_ids": ids})).json()
    assert patched["agent_ids"] == ids and patched["strategy"] == "round_robin"
    assert (await http.delete(f"/api/v1/agents/{ids[1]}", headers=tk.headers)).status_code == 204
    assert (await http.get(url, headers=tk.headers)).json()["agent_ids"] == [ids[0], ids[2]]
    on = (await http.patch(f"/api/v1/agents/{ids[0]}", headers=tk.headers,
                           json={"on_duty": False})).json()
    assert on["on_duty"] is False
    assert_error(await http.get(url, headers=other.headers), 404, "not_found")
    assert len(await walk(http, "/api/v1/agents", tk.headers, limit=1)) == 2
    assert (await http.delete(url, headers=tk.headers)).status_code == 204
    no_admin = await make_tenant_key("flows:write", tenant_id=tk.tenant_id)
    assert_error(await http.get("/api/v1/agents", headers=no_admin.headers),
                 403, "permission_denied")
