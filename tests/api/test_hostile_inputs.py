"""Hostile request contents over real HTTP, on whichever backend the suite runs (SQLite or
PostgreSQL): unstorable text and forged cursors are 400s (never 500s, and alike on both
backends), credentials in URLs are refused, errors never quote the request, and /openapi.json
documents what the server enforces."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from .envelope import assert_error, walk

BASE = "/api/v1/voice-agents"
GOOD = {"name": "a", "ws_url": "wss://ai.example.com/ws"}
SECRET = "zz-secret-7d41c9"


@pytest.fixture
async def writer(make_tenant_key: Any) -> dict[str, str]:
    tk = await make_tenant_key("voice_agents:write", "tenant:admin")
    headers: dict[str, str] = tk.headers
    return headers


@pytest.mark.parametrize("raw", [
    b'{"name": "a\\u0000b", "ws_url": "wss://ai.example.com/ws"}',
    b'{"name": "\\ud800", "ws_url": "wss://ai.example.com/ws"}',  # unpaired surrogate escape
    b'{"name": "x\\udfffy", "ws_url": "wss://ai.example.com/ws"}',
    b'{"name": "\xed\xa0\x80", "ws_url": "wss://ai.example.com/ws"}',  # surrogate as UTF-8 bytes
    b'{"name": "a", "ws_url": "wss://ai.example.com/ws", "audio": {"enc\\u0000": 1}}',
])
async def test_unstorable_text_in_bodies_is_400(http: httpx.AsyncClient, writer: dict[str, str],
                                                raw: bytes) -> None:
    headers = {**writer, "Content-Type": "application/json"}
    error = assert_error(await http.post(BASE, headers=headers, content=raw), 400,
                         "validation_error")
    assert "NUL" in error["message"]
    assert (await http.get(BASE, headers=writer)).json()["data"] == []  # nothing was stored


async def test_a_surrogate_pair_is_fine(http: httpx.AsyncClient, writer: dict[str, str]) -> None:
    headers = {**writer, "Content-Type": "application/json"}
    raw = b'{"name": "\\ud83d\\ude00", "ws_url": "wss://ai.example.com/ws"}'
    created = await http.post(BASE, headers=headers, content=raw)
    assert created.status_code == 201 and created.json()["name"] == "\U0001f600"


@pytest.mark.parametrize("target", [
    f"{BASE}/%00", f"{BASE}/{uuid.uuid4()}%00", f"{BASE}?cursor=%00", f"{BASE}?x=a%00b",
    "/api/v1/tenant?%00=1",
])
async def test_nul_in_path_or_query_is_400(http: httpx.AsyncClient, writer: dict[str, str],
                                           target: str) -> None:
    assert_error(await http.get(target, headers=writer), 400, "validation_error")


async def test_tenant_patch_refuses_nul(http: httpx.AsyncClient, writer: dict[str, str]) -> None:
    for body in ({"timezone": "Europe/Paris\x00"}, {"voice_agent_default_ws_url": "wss://a.b\x00"}):
        assert_error(await http.patch("/api/v1/tenant", headers=writer, json=body), 400,
                     "validation_error")


def _b64(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "", "abc", "!!!!", "1_not-a-uuid", f"1_{str(uuid.uuid4()).upper()}",
    f"-1_{uuid.uuid4()}", f"{'9' * 17}_{uuid.uuid4()}", f"1.5_{uuid.uuid4()}",
    f"1_{uuid.uuid4()}_x", _b64(["2026-01-01T00:00:00", str(uuid.uuid4())]),  # naive, old form
    _b64(["9999-12-31T23:59:59-14:00", str(uuid.uuid4())]), _b64([1, 2]), _b64({"a": 1}),
    f"2026-01-01T00:00:00_{uuid.uuid4()}", "x" * 5000,
])
async def test_forged_cursors_are_400(http: httpx.AsyncClient, writer: dict[str, str],
                                      cursor: str) -> None:
    response = await http.get(BASE, headers=writer, params={"cursor": cursor})
    error = assert_error(response, 400, "validation_error")
    assert error["details"][0]["loc"] == ["query", "cursor"]


async def test_any_cursor_in_the_grammar_is_a_position(http: httpx.AsyncClient,
                                                       writer: dict[str, str]) -> None:
    ids = [(await http.post(BASE, headers=writer, json=GOOD)).json()["id"] for _ in range(5)]
    assert [a["id"] for a in await walk(http, BASE, writer, limit=2)] == ids  # stable order
    for cursor in (f"0_{uuid.UUID(int=0)}", f"{'9' * 16}_{uuid.UUID(int=0)}"):
        page = await http.get(BASE, headers=writer, params={"cursor": cursor})
        assert page.status_code == 200
    assert [a["id"] for a in page.json()["data"]] == []  # after the year 2286: nothing


@pytest.mark.parametrize("ws_url", [
    f"wss://bob:{SECRET}@ai.example.com/ws", f"wss://{SECRET}@ai.example.com/ws",
    f"wss://ai.example.com/ws?token={SECRET}", f"wss://ai.example.com/ws?access_token={SECRET}",
    f"wss://ai.example.com/ws?model=x&key={SECRET}",
])
async def test_credentials_in_urls_are_refused_never_echoed(
        http: httpx.AsyncClient, writer: dict[str, str], ws_url: str) -> None:
    for response in (await http.post(BASE, headers=writer, json={**GOOD, "ws_url": ws_url}),
                     await http.patch("/api/v1/tenant", headers=writer,
                                      json={"voice_agent_default_ws_url": ws_url})):
        error = assert_error(response, 400, "validation_error")
        assert "secret field" in error["message"] and SECRET not in response.text


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", BASE, {**GOOD, "ws_url": f"wss://10.0.0.1/{SECRET}"}),
    ("post", BASE, {**GOOD, "ws_url": f"ftp://{SECRET}.example.com/"}),
    ("post", BASE, {**GOOD, "name": 5, "auth_token": SECRET}),
    ("post", BASE, {**GOOD, "audio": {"encoding": SECRET}}),
    ("patch", "/api/v1/tenant", {"timezone": f"Mars/{SECRET}"}),
    ("patch", "/api/v1/tenant", {"default_voice_agent_id": str(uuid.UUID(int=7))}),
    ("get", f"{BASE}/{SECRET}", None),
    ("get", f"{BASE}/{uuid.UUID(int=9)}", None),
    ("delete", f"{BASE}/{uuid.UUID(int=9)}", None),
])
async def test_errors_never_quote_the_request(http: httpx.AsyncClient, writer: dict[str, str],
                                              method: str, path: str, body: Any) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = await http.request(method.upper(), path, headers=writer, **kwargs)
    error = assert_error(response, response.status_code, response.json()["error"]["type"])
    assert response.status_code in (400, 404)
    said = json.dumps({"message": error["message"],
                       "msgs": [d.get("msg") for d in error["details"]]})
    for value in (SECRET, str(uuid.UUID(int=7)), str(uuid.UUID(int=9))):
        assert value not in said
    assert all("input" not in d and "ctx" not in d for d in error["details"])


async def test_integral_numbers_are_integers(http: httpx.AsyncClient,
                                             writer: dict[str, str]) -> None:
    """JSON Schema counts 7.0 and 7e0 as the integer 7, so schema-driven clients may send them;
    7.5 is still not an integer."""
    headers = {**writer, "Content-Type": "application/json"}
    for spelling in (b"7.0", b"7e0", b"0.7e1"):
        raw = b'{"name": "a", "ws_url": "wss://ai.example.com/ws", "max_concurrent": ' + spelling
        created = await http.post(BASE, headers=headers, content=raw + b"}")
        assert created.status_code == 201 and created.json()["max_concurrent"] == 7
    assert_error(await http.post(BASE, headers=writer, json={**GOOD, "max_concurrent": 7.5}),
                 400, "validation_error")


async def test_allow_names_every_method_of_the_path(http: httpx.AsyncClient,
                                                   writer: dict[str, str]) -> None:
    response = await http.put(BASE, headers=writer, json=GOOD)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"
    one = await http.post(f"{BASE}/{uuid.uuid4()}", headers=writer, json=GOOD)
    assert one.headers["allow"] == "DELETE, GET, PATCH"


async def test_openapi_documents_errors_and_rules(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "400" in responses, (method, path)
            if operation.get("security"):
                assert {"401", "403"} <= set(responses), (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            for status, response in responses.items():
                assert "X-Request-Id" in response["headers"]
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == envelope
            assert "HTTPValidationError" not in json.dumps(responses)
    agents = spec["paths"][BASE]
    cursor = next(p for p in agents["get"]["parameters"] if p["name"] == "cursor")
    assert cursor["schema"]["pattern"].startswith("^[0-9]{1,16}_")
    limit = next(p for p in agents["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200
    schemas = spec["components"]["schemas"]
    create = schemas["VoiceAgentCreate"]["properties"]
    assert create["ws_url"]["pattern"].startswith("^wss://")
    assert create["name"]["pattern"] == "^[^\\x00]*$"
    assert "Europe/Paris" in schemas["TenantPatch"]["properties"]["timezone"]["enum"]


@pytest.mark.parametrize("target", [f"{BASE}/%ff%fe", "/%c0%80", f"{BASE}/%ED%A0%80",
                                    f"{BASE}?cursor=%ff"])
async def test_percent_encoded_non_utf8_is_a_4xx_envelope(http: httpx.AsyncClient,
                                                          writer: dict[str, str],
                                                          target: str) -> None:
    """Percent-decoding replaces what is not UTF-8 (U+FFFD), so these reach routing as text:
    a 404 or a 400 in the envelope, never a 500."""
    response = await http.get(target, headers=writer)
    assert response.status_code in (400, 404)
    assert_error(response, response.status_code, response.json()["error"]["type"])
