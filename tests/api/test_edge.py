"""The API edge: every failure in the envelope, request ids, probes, metrics, OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.settings import Settings
from yotel.testing.server import running_server

BASE = "/api/v1/voice-agents"
GOOD = {"name": "a", "ws_url": "wss://ai.example.com/ws"}


def _envelope(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"ok", "error"} and body["ok"] is False
    assert body["error"]["type"] == kind
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
async def writer(make_tenant_key: Any) -> dict[str, str]:
    tk = await make_tenant_key("voice_agents:write", "tenant:admin")
    headers: dict[str, str] = tk.headers
    return headers


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"name": "a",}', b"\xff\xfe", b""])
async def test_malformed_json_is_400(http: httpx.AsyncClient, writer: dict[str, str],
                                     raw: bytes) -> None:
    headers = {**writer, "Content-Type": "application/json"}
    _envelope(await http.post(BASE, headers=headers, content=raw), 400, "validation_error")


@pytest.mark.parametrize("body", [
    {**GOOD, "max_concurrent": "5"}, {**GOOD, "max_concurrent": 5.5},
    {**GOOD, "max_concurrent": 0}, {**GOOD, "max_concurrent": True}, {**GOOD, "name": 7},
    {**GOOD, "audio": {"encoding": "opus"}}, {**GOOD, "audio": {"sample_rate": 16000}},
    {**GOOD, "token_lifetime": "forever"}, {**GOOD, "subprotocol": "audio.other.org"},
    {"name": "a"}, [GOOD], "text", None,
])
async def test_wrong_types_are_400(http: httpx.AsyncClient, writer: dict[str, str],
                                   body: Any) -> None:
    error = _envelope(await http.post(BASE, headers=writer, json=body), 400, "validation_error")
    assert error["details"] and all("input" not in d for d in error["details"])


async def test_non_json_content_type_is_400(http: httpx.AsyncClient,
                                            writer: dict[str, str]) -> None:
    headers = {**writer, "Content-Type": "text/plain"}
    error = _envelope(await http.post(BASE, headers=headers, content=b'{"name": "a"}'),
                      400, "validation_error")
    assert "JSON object" in error["message"]


async def test_unknown_fields_are_400(http: httpx.AsyncClient, writer: dict[str, str]) -> None:
    error = _envelope(await http.post(BASE, headers=writer, json={**GOOD, "colour": "red"}),
                      400, "validation_error")
    assert error["details"][0]["loc"] == ["body", "colour"]
    _envelope(await http.post(BASE, headers=writer, json={**GOOD, "audio": {"channels": 2}}),
              400, "validation_error")
    _envelope(await http.patch("/api/v1/tenant", headers=writer, json={"name": "x"}),
              400, "validation_error")


async def test_oversized_bodies_are_400(http: httpx.AsyncClient, writer: dict[str, str]) -> None:
    big = {**GOOD, "name": "x" * (1024 * 1024 + 10)}
    _envelope(await http.post(BASE, headers=writer, json=big), 400, "validation_error")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    headers = {**writer, "Content-Type": "application/json"}
    error = _envelope(await http.post(BASE, headers=headers, content=chunks()),
                      400, "validation_error")
    assert "larger than" in error["message"]


async def test_unknown_route_and_wrong_method(http: httpx.AsyncClient,
                                              writer: dict[str, str]) -> None:
    _envelope(await http.get("/api/v1/nothing-here", headers=writer), 404, "not_found")
    _envelope(await http.get("/"), 404, "not_found")
    response = await http.put(BASE, headers=writer, json=GOOD)
    _envelope(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_request_ids_on_every_response(http: httpx.AsyncClient) -> None:
    ids = set()
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/nope", BASE):
        response = await http.get(path)
        assert response.headers["x-request-id"].startswith("req_")
        ids.add(response.headers["x-request-id"])
    assert len(ids) == 6


async def test_probes_metrics_and_openapi(http: httpx.AsyncClient, redis_url: str | None) -> None:
    assert (await http.get("/healthz")).json() == {"ok": True}
    ready = (await http.get("/readyz")).json()
    assert ready["checks"]["database"] == "ok"
    assert ready["checks"]["redis"] == ("ok" if redis_url else "not_configured")
    metrics = await http.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'yotel_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in (
        metrics.text)
    spec = (await http.get("/openapi.json")).json()
    assert {"/api/v1/voice-agents", "/api/v1/voice-agents/{agent_id}",
            "/api/v1/tenant"} <= set(spec["paths"])
    props = spec["components"]["schemas"]["VoiceAgentOut"]["properties"]
    assert "auth_token" not in props and "has_auth_token" in props


async def test_unexpected_failures_are_500_envelopes(
        make_settings: Callable[..., Settings], counters: Any) -> None:
    app = create_app(make_settings(), counters=counters)

    async def explode() -> None:
        raise RuntimeError("kaboom with internal detail")

    app.add_api_route("/boom", explode)
    server = ApiServer(app, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.get("/boom")
    finally:
        await server.stop()
    error = _envelope(response, 500, "server_error")
    assert "kaboom" not in response.text and error["message"] == "internal error"


async def test_readyz_fails_when_database_is_down(
        make_settings: Callable[..., Settings], counters: Any) -> None:
    settings = make_settings(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    server = ApiServer(create_app(settings, counters=counters), host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            response = await client.get("/readyz")
            health = await client.get("/healthz")
    finally:
        await server.stop()
    _envelope(response, 503, "server_error")
    assert health.status_code == 200


async def test_port_in_use_fails_start_cleanly(make_settings: Callable[..., Settings],
                                               counters: Any) -> None:
    first = ApiServer(create_app(make_settings(), counters=counters), host="127.0.0.1", port=0)
    await first.start()
    try:
        second = ApiServer(create_app(make_settings(), counters=counters), host="127.0.0.1",
                           port=first.port)
        with pytest.raises(OSError):
            await second.start()
    finally:
        await first.stop()


async def test_unreachable_redis_is_503_not_500(make_settings: Callable[..., Settings],
                                                make_tenant_key: Any) -> None:
    tk = await make_tenant_key("voice_agents:write")
    settings = make_settings(redis_url="redis://127.0.0.1:1/0")
    async with (running_server(settings) as url, httpx.AsyncClient(base_url=url) as client):
        ready = await client.get("/readyz")
        created = await client.post(BASE, headers=tk.headers, json=GOOD)
        agent = await client.get(f"{BASE}/{created.json()['id']}", headers=tk.headers)
    _envelope(ready, 503, "server_error")
    assert created.status_code == 201  # a new agent has no live calls to read
    _envelope(agent, 503, "server_error")
