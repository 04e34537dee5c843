"""Assertions on the error envelope (PRODUCT.md §3) shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["error"]["type"] == kind, body
    assert body["error"]["request_id"] == response.headers["x-request-id"]
    assert isinstance(body["error"]["details"], list) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def walk(http: httpx.AsyncClient, url: str, headers: dict[str, str], *,
               limit: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following `next_cursor`."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, headers=headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
