"""Acceptance: voice-agent CRUD over real HTTP, scopes, tenant fence, secrets never echoed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from yotel.settings import Settings
from yotel.testing.server import running_server
from yotel.voice_agents.slots import AgentSlots

BASE = "/api/v1/voice-agents"
SECRET = "tok-very-secret-4f1b"


def _agent(**fields: Any) -> dict[str, Any]:
    return {"name": "sales", "ws_url": "wss://ai.example.com/ws", **fields}


def _assert_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error"]["type"] == kind
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert body["error"]["request_id"].startswith("req_")
    assert isinstance(body["error"]["details"], list) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def test_crud_round_trip(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    created = await http.post(BASE, headers=tk.headers, json=_agent(
        auth_token=SECRET, audio={"encoding": "pcma"}, max_concurrent=7,
        token_lifetime="ws_session", subprotocol="audio.jambonz.org"))
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["has_auth_token"] is True and "auth_token" not in agent
    assert agent["audio"] == {"encoding": "pcma", "sample_rate": 8000, "frame_ms": 20}
    assert (agent["max_concurrent"], agent["token_lifetime"], agent["subprotocol"],
            agent["active_calls"]) == (7, "ws_session", "audio.jambonz.org", 0)
    assert agent["created_at"].endswith("Z")
    url = f"{BASE}/{agent['id']}"
    assert (await http.get(url, headers=tk.headers)).json() == agent
    patched = await http.patch(url, headers=tk.headers, json={"name": "support",
                                                              "auth_token": None})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["name"], patched.json()["has_auth_token"]) == ("support", False)
    listed = (await http.get(BASE, headers=tk.headers)).json()
    assert [a["id"] for a in listed["data"]] == [agent["id"]] and listed["next_cursor"] is None
    assert (await http.delete(url, headers=tk.headers)).status_code == 204
    _assert_error(await http.get(url, headers=tk.headers), 404, "not_found")


async def test_defaults(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    agent = (await http.post(BASE, headers=tk.headers, json=_agent())).json()
    assert (agent["max_concurrent"], agent["token_lifetime"], agent["subprotocol"],
            agent["has_auth_token"], agent["audio"]["encoding"]) == (
        100, "30min_with_refresh", "audio.drachtio.org", False, "pcmu")


async def test_scopes(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    reader = await make_tenant_key("voice_agents:read")
    error = _assert_error(await http.post(BASE, headers=reader.headers, json=_agent()),
                          403, "permission_denied")
    assert "voice_agents:write" in error["message"]
    assert (await http.get(BASE, headers=reader.headers)).status_code == 200
    other = await make_tenant_key("campaigns:write", "tenant:admin")
    _assert_error(await http.get(BASE, headers=other.headers), 403, "permission_denied")


@pytest.mark.parametrize("header", [None, "Bearer yt_live_nope-nope-nope", "Basic abc",
                                    "Bearer"])
async def test_bad_credentials_are_401(http: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await http.get(BASE, headers=headers)
    _assert_error(response, 401, "authentication_error")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_other_tenant_gets_404(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    a = await make_tenant_key("voice_agents:write")
    b = await make_tenant_key("voice_agents:write")
    agent = (await http.post(BASE, headers=a.headers, json=_agent())).json()
    url = f"{BASE}/{agent['id']}"
    _assert_error(await http.get(url, headers=b.headers), 404, "not_found")
    _assert_error(await http.patch(url, headers=b.headers, json={"name": "x"}), 404, "not_found")
    _assert_error(await http.delete(url, headers=b.headers), 404, "not_found")
    assert (await http.get(BASE, headers=b.headers)).json()["data"] == []
    assert (await http.get(url, headers=a.headers)).status_code == 200


async def test_auth_token_never_in_responses_or_logs(
        http: httpx.AsyncClient, make_tenant_key: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tk = await make_tenant_key("voice_agents:write")
    responses = [await http.post(BASE, headers=tk.headers, json=_agent(auth_token=SECRET))]
    agent_id = responses[0].json()["id"]
    url = f"{BASE}/{agent_id}"
    responses += [
        await http.get(url, headers=tk.headers), await http.get(BASE, headers=tk.headers),
        await http.patch(url, headers=tk.headers, json={"auth_token": SECRET + "2"}),
        # invalid bodies carrying the secret: the error must not echo it back
        await http.post(BASE, headers=tk.headers, json=_agent(auth_token=SECRET, extra=SECRET)),
        await http.post(BASE, headers=tk.headers, json={"name": SECRET, "ws_url": 5,
                                                        "auth_token": [SECRET]}),
        await http.patch(url, headers=tk.headers, json={"auth_token": SECRET, "ws_url": "ws://x"}),
        await http.get("/openapi.json"),
    ]
    for response in responses:
        assert SECRET not in response.text, response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the access log did run
    assert SECRET not in logged and SECRET not in caplog.text


@pytest.mark.parametrize("ws_url", ["ws://ai.example.com/ws", "wss://127.0.0.1/ws",
                                    "ws://127.0.0.1:9000/ws", "wss://localhost/ws"])
async def test_insecure_urls_refused_unless_allowed(
        http: httpx.AsyncClient, make_tenant_key: Any, ws_url: str,
        make_settings: Callable[..., Settings], counters: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    error = _assert_error(await http.post(BASE, headers=tk.headers, json=_agent(ws_url=ws_url)),
                          400, "validation_error")
    assert error["details"][0]["loc"] == ["body", "ws_url"]
    dev_settings = make_settings(allow_insecure_urls=True)
    async with (running_server(dev_settings, counters=counters) as url,
                httpx.AsyncClient(base_url=url) as dev):
        response = await dev.post(BASE, headers=tk.headers, json=_agent(ws_url=ws_url))
    assert response.status_code == 201, response.text


async def test_active_calls_is_live_and_blocks_delete(
        http: httpx.AsyncClient, make_tenant_key: Any, counters: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    agent = (await http.post(BASE, headers=tk.headers, json=_agent())).json()
    url = f"{BASE}/{agent['id']}"
    slots = AgentSlots(counters)
    for call_id in ("call-1", "call-2"):
        assert await slots.acquire(agent["id"], call_id, agent["max_concurrent"])
    try:
        assert (await http.get(url, headers=tk.headers)).json()["active_calls"] == 2
        _assert_error(await http.delete(url, headers=tk.headers), 409, "conflict")
    finally:
        for call_id in ("call-1", "call-2"):
            await slots.release(agent["id"], call_id)
    assert (await http.delete(url, headers=tk.headers)).status_code == 204


async def test_tenant_default_cannot_be_deleted(http: httpx.AsyncClient,
                                                make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write", "tenant:admin")
    agent = (await http.post(BASE, headers=tk.headers, json=_agent())).json()
    patched = await http.patch("/api/v1/tenant", headers=tk.headers,
                               json={"default_voice_agent_id": agent["id"]})
    assert patched.status_code == 200, patched.text
    error = _assert_error(await http.delete(f"{BASE}/{agent['id']}", headers=tk.headers),
                          409, "conflict")
    assert "default" in error["message"]


async def test_list_pagination(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    ids = [(await http.post(BASE, headers=tk.headers, json=_agent(name=f"a{i}"))).json()["id"]
           for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await http.get(BASE, headers=tk.headers, params=params)).json()
        seen += [a["id"] for a in page["data"]]
        cursor = page["next_cursor"]
    assert seen == ids and cursor is None
    for params in ({"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "garbage!"},
                   {"cursor": "WyJ4Il0"}):
        _assert_error(await http.get(BASE, headers=tk.headers, params=params),
                      400, "validation_error")
    full = (await http.get(BASE, headers=tk.headers, params={"limit": 200})).json()
    assert len(full["data"]) == 5
