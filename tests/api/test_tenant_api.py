from __future__ import annotations

from typing import Any

import httpx

URL = "/api/v1/tenant"


async def test_get_and_patch_tenant(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("tenant:admin", "voice_agents:write")
    tenant = (await http.get(URL, headers=tk.headers)).json()
    assert tenant["id"] == tk.tenant_id and tenant["timezone"] == "UTC"
    assert tenant["default_voice_agent_id"] is None
    agent = (await http.post("/api/v1/voice-agents", headers=tk.headers,
                             json={"name": "a", "ws_url": "wss://ai.example.com"})).json()
    patched = await http.patch(URL, headers=tk.headers, json={
        "default_voice_agent_id": agent["id"], "timezone": "America/New_York",
        "voice_agent_default_ws_url": "wss://fallback.example.com/ws"})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["default_voice_agent_id"], body["timezone"],
            body["voice_agent_default_ws_url"]) == (
        agent["id"], "America/New_York", "wss://fallback.example.com/ws")
    cleared = (await http.patch(URL, headers=tk.headers,
                                json={"default_voice_agent_id": None})).json()
    assert cleared["default_voice_agent_id"] is None and cleared["timezone"] == "America/New_York"


async def test_tenant_patch_validation_and_scope(http: httpx.AsyncClient,
                                                 make_tenant_key: Any) -> None:
    tk = await make_tenant_key("tenant:admin")
    other = await make_tenant_key("voice_agents:write")
    foreign = (await http.post("/api/v1/voice-agents", headers=other.headers,
                               json={"name": "a", "ws_url": "wss://ai.example.com"})).json()
    for body in ({"timezone": "Nowhere/City"},
                 {"timezone": None}, {"voice_agent_default_ws_url": "ws://ai.example.com"},
                 {"default_trunk_id": 5}, {"default_trunk_id": "not-a-uuid"}):
        response = await http.patch(URL, headers=tk.headers, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["type"] == "validation_error"
    # A well-formed id naming nothing of this tenant: 404 (the schema cannot tell), id not quoted.
    missing = await http.patch(URL, headers=tk.headers,
                               json={"default_voice_agent_id": foreign["id"]})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    assert foreign["id"] not in missing.text
    denied = await http.get(URL, headers=other.headers)
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_denied"
