from __future__ import annotations

from typing import Any

import httpx


async def test_create_and_get_voice_agent(http: httpx.AsyncClient,
                                          make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    r = await http.post("/api/v1/voice-agents", headers=tk.headers,
                        json={"name": "a", "ws_url": "wss://ai.example.com/ws", "auth_token": "s3"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["has_auth_token"] is True and "auth_token" not in body
    r2 = await http.get(f"/api/v1/voice-agents/{body['id']}", headers=tk.headers)
    assert r2.json() == body
