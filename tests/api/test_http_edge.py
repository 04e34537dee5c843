"""The HTTP/1.1 edge under hostile clients, on raw sockets against a real uvicorn (httptools):
half-open connections are closed, what the parser refuses still gets the JSON envelope and
`X-Request-Id`, and no redirect is built from the client's Host header."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.settings import HttpLimits, Settings

HEAD_TIMEOUT_S = 0.6
BODY_TIMEOUT_S = 0.6
MAX_HEADER_BYTES = 4096
# The close must come after the timeout and within it plus an honest margin for a loaded machine.
SLACK_S = 2.0


@pytest.fixture
async def port(make_settings: Callable[..., Settings], counters: Any) -> AsyncIterator[int]:
    limits = HttpLimits(header_timeout_s=HEAD_TIMEOUT_S, body_timeout_s=BODY_TIMEOUT_S,
                        keep_alive_s=5.0, max_header_bytes=MAX_HEADER_BYTES)
    server = ApiServer(create_app(make_settings(), counters=counters), host="127.0.0.1",
                       port=0, limits=limits)
    await server.start()
    try:
        yield server.port
    finally:
        await server.stop()


async def _closed_after(port: int, *chunks: bytes, gap_s: float = 0.0) -> tuple[float, bytes]:
    """Send `chunks` (pausing `gap_s` between them), then read until the server closes; return
    seconds from connecting to the close, and what was read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for chunk in chunks:
            if reader.at_eof():
                return time.monotonic() - started, b""  # closed on us mid-request
            try:
                writer.write(chunk)
                await writer.drain()
            except ConnectionError:
                return time.monotonic() - started, b""
            await asyncio.sleep(gap_s)
        data = await asyncio.wait_for(reader.read(), HEAD_TIMEOUT_S + 10)
        return time.monotonic() - started, data
    finally:
        writer.close()


@pytest.mark.parametrize("chunks", [
    (),  # connects and says nothing
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n",),  # a head that never ends
])
async def test_half_open_connections_are_closed(port: int, chunks: tuple[bytes, ...]) -> None:
    elapsed, data = await _closed_after(port, *chunks)
    assert data == b""
    assert HEAD_TIMEOUT_S * 0.9 <= elapsed <= HEAD_TIMEOUT_S + SLACK_S


async def test_trickling_bytes_does_not_extend_the_deadline(port: int) -> None:
    trickle = [bytes([c]) for c in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaa"]
    elapsed, data = await _closed_after(port, *trickle, gap_s=0.05)
    assert data == b"" and elapsed <= HEAD_TIMEOUT_S + SLACK_S


async def test_a_body_that_never_arrives_is_closed(port: int) -> None:
    head = b"POST /api/v1/voice-agents HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
    elapsed, _ = await _closed_after(port, head)
    assert elapsed <= BODY_TIMEOUT_S + SLACK_S


async def test_a_served_connection_keeps_working(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(2):  # keep-alive: the head deadline is re-armed per request, not per socket
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(HEAD_TIMEOUT_S / 2)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            assert head.startswith(b"HTTP/1.1 200") and await reader.readexactly(length)
    finally:
        writer.close()


def _envelope_of(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(("request_bytes", "message"), [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000 + b"\r\n\r\n", "larger"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000, "larger"),  # unfinished
    (b"GET /healthz HTTP/1.1\r\n" + b"X-Many: a\r\n" * 1000 + b"\r\n", "larger"),
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "malformed"),
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "malformed"),
    (b"POST /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "malformed"),
    (b"GET /he\xffalthz HTTP/1.1\r\nHost: x\r\n\r\n", "malformed"),  # not ASCII, not UTF-8
    (b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", "malformed"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, "malformed"),  # TLS hello
])
async def test_parser_refusals_get_the_envelope(port: int, request_bytes: bytes,
                                                message: str) -> None:
    _, raw = await _closed_after(port, request_bytes)
    status, headers, body = _envelope_of(raw)
    assert status == 400 and headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body["ok"] is False and body["error"]["type"] == "validation_error"
    assert body["error"]["request_id"] == headers["x-request-id"]
    assert headers["x-request-id"].startswith("req_") and message in body["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/voice-agents/", "/healthz/", "//evil.example/"])
async def test_no_redirect_is_built_from_the_host_header(port: int, path: str) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    _, raw = await _closed_after(port, request.encode())
    status, headers, body = _envelope_of(raw)
    assert status == 404 and "location" not in headers
    assert "evil.example" not in raw.decode("latin-1")
    assert body["error"]["type"] == "not_found"
