"""`/webhook-endpoints` and `/webhook-deliveries` through the real API: scopes, URL rules,
the secret shown once, rotation, enable/disable, deliveries paging and retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from yotel.settings import Settings
from yotel.testing.server import running_server

PUBLIC = "https://hooks.example.com/yotel"


@pytest.fixture
async def insecure_api(make_settings: Callable[..., Settings]) -> AsyncIterator[str]:
    async with running_server(make_settings(allow_insecure_urls=True)) as url:
        yield url


async def _client(base: str, key: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base + "/api/v1", headers=key.headers, timeout=10)


async def test_crud_secret_once_rotation_and_enable(api_url: str, make_tenant_key: Any) -> None:
    key = await make_tenant_key("webhooks:write")
    async with await _client(api_url, key) as http:
        created = await http.post("/webhook-endpoints", json={
            "url": PUBLIC, "events": ["call.started", "call.ended"], "description": "crm"})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["secret"].startswith("whsec_") and body["enabled"] is True
        assert body["events"] == ["call.started", "call.ended"]
        endpoint_id = body["id"]
        shown = (await http.get(f"/webhook-endpoints/{endpoint_id}")).json()
        assert "secret" not in shown and shown["url"] == PUBLIC
        listed = (await http.get("/webhook-endpoints")).json()
        assert [e["id"] for e in listed["data"]] == [endpoint_id]
        assert all("secret" not in e for e in listed["data"])

        rotated = (await http.post(f"/webhook-endpoints/{endpoint_id}/rotate-secret")).json()
        assert rotated["secret"] != body["secret"] and rotated["previous_secret_expires_at"]
        no_overlap = await http.post(f"/webhook-endpoints/{endpoint_id}/rotate-secret",
                                     json={"overlap_s": 0})
        assert no_overlap.json()["previous_secret_expires_at"] is None

        off = (await http.patch(f"/webhook-endpoints/{endpoint_id}",
                                json={"enabled": False})).json()
        assert off["enabled"] is False and off["disabled_reason"] == "disabled by the tenant"
        on = (await http.patch(f"/webhook-endpoints/{endpoint_id}",
                               json={"enabled": True, "events": ["*"]})).json()
        assert on["enabled"] is True and on["disabled_reason"] is None and on["events"] == ["*"]

        page = await http.get(f"/webhook-endpoints/{endpoint_id}/deliveries")
        assert page.status_code == 200 and page.json() == {"data": [], "next_cursor": None}
        assert (await http.delete(f"/webhook-endpoints/{endpoint_id}")).status_code == 204
        assert (await http.get(f"/webhook-endpoints/{endpoint_id}")).status_code == 404


@pytest.mark.parametrize("url", [
    "http://hooks.example.com/x",  # https only
    "https://127.0.0.1/x", "https://10.1.2.3/x", "https://localhost/x",  # not public
    "https://user:pw@hooks.example.com/x",  # credentials in the URL
    "https://hooks.example.com/x?token=abc",
    "ftp://hooks.example.com/x",
])
async def test_url_rules_like_every_tenant_url(api_url: str, make_tenant_key: Any,
                                              url: str) -> None:
    key = await make_tenant_key("webhooks:write")
    async with await _client(api_url, key) as http:
        answer = await http.post("/webhook-endpoints", json={"url": url})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] == "validation_error"
        assert url not in answer.text


async def test_insecure_mode_allows_local_http(insecure_api: str, make_tenant_key: Any) -> None:
    key = await make_tenant_key("webhooks:write")
    async with await _client(insecure_api, key) as http:
        answer = await http.post("/webhook-endpoints", json={"url": "http://127.0.0.1:9/x"})
        assert answer.status_code == 201, answer.text
        refused = await http.post("/webhook-endpoints",
                                  json={"url": "http://u:p@127.0.0.1:9/x"})
        assert refused.status_code == 400


async def test_event_filter_validation(api_url: str, make_tenant_key: Any) -> None:
    key = await make_tenant_key("webhooks:write")
    async with await _client(api_url, key) as http:
        for events in (["call.teleported"], [], ["*", "call.started"], "call.started"):
            answer = await http.post("/webhook-endpoints", json={"url": PUBLIC, "events": events})
            assert answer.status_code == 400, (events, answer.text)
        default = (await http.post("/webhook-endpoints", json={"url": PUBLIC})).json()
        assert default["events"] == ["*"]


async def test_scopes_and_tenant_fence(api_url: str, make_tenant_key: Any) -> None:
    writer = await make_tenant_key("webhooks:write")
    reader = await make_tenant_key("webhooks:read", tenant_id=writer.tenant_id)
    stranger = await make_tenant_key("webhooks:write")
    async with await _client(api_url, writer) as http:
        endpoint_id = (await http.post("/webhook-endpoints", json={"url": PUBLIC})).json()["id"]
    async with await _client(api_url, reader) as http:
        assert (await http.get(f"/webhook-endpoints/{endpoint_id}")).status_code == 200
        assert (await http.get(f"/webhook-endpoints/{endpoint_id}/deliveries")).status_code == 200
        denied = await http.post("/webhook-endpoints", json={"url": PUBLIC})
        assert denied.status_code == 403
        assert (await http.post(f"/webhook-endpoints/{endpoint_id}/rotate-secret")
                ).status_code == 403
    async with await _client(api_url, stranger) as http:
        assert (await http.get(f"/webhook-endpoints/{endpoint_id}")).status_code == 404
        assert (await http.delete(f"/webhook-endpoints/{endpoint_id}")).status_code == 404
        missing = await http.post("/webhook-deliveries/00000000-0000-4000-8000-000000000000/retry")
        assert missing.status_code == 404
