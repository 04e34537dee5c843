"""The dispatcher's HTTP/1.1 client: response heads parsed as RFC 9112 says, keep-alive reuse,
and a connection the receiver closed between deliveries retried once on a new one."""

from __future__ import annotations

import asyncio

import pytest

from yotel.webhooks.http1 import Head, Http1Pool, HttpError, parse_head, request_bytes


def test_parse_head() -> None:
    assert parse_head(b"HTTP/1.1 204 No Content\r\nContent-Length: 0") == Head(204, 0, True)
    assert parse_head(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2") == \
        Head(200, 2, False)
    assert parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0").keep_alive is False
    chunked = parse_head(b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked")
    assert chunked == Head(500, None, False)
    for bad in (b"SIP/2.0 200 OK", b"HTTP/1.1 2x0 OK", b"HTTP/1.1 200 OK\r\nContent-Length: -1",
                b""):
        with pytest.raises(HttpError):
            parse_head(bad)


def test_request_bytes() -> None:
    wire = request_bytes("/hooks?a=1", "example.com:8443", {"webhook-id": "evt_1"}, b"{}")
    assert wire == (b"POST /hooks?a=1 HTTP/1.1\r\nHost: example.com:8443\r\nContent-Length: 2"
                    b"\r\nwebhook-id: evt_1\r\n\r\n{}")


async def test_keep_alive_reuse_and_retry_after_the_server_closed() -> None:
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        for _ in range(2):  # two requests per connection, then close it
            head = await reader.readuntil(b"\r\n\r\n")
            size = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(size)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Http1Pool(connect_timeout_s=2, read_timeout_s=2)
    try:
        request = request_bytes("/", f"127.0.0.1:{port}", {}, b"x")
        statuses = [await pool.post(("127.0.0.1", port, None), request) for _ in range(5)]
        assert statuses == [200] * 5
        assert len(connections) == 3  # 2 + 2 + 1 requests, the closed ones retried
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
