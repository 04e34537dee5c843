"""A minimal HTTP/1.1 keep-alive client for load generators: httpx costs about a millisecond of
CPU per request, which on a 2-core machine makes the generator, not the server, the bottleneck.

Requests go out on idle pooled connections (one in flight per connection, no pipelining); with
none idle a new connection is opened, so an open-loop generator is never held back by the
server's latency. Only what the benchmarks need: JSON bodies, Content-Length responses.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit


class StaleConnectionError(ConnectionError):
    """The server had closed the pooled connection: the request was not answered at all."""


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.reusable = True

    async def exchange(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            raise StaleConnectionError from exc  # closed before it answered anything
        status = int(status_line.split(b" ", 2)[1])
        length, closing = 0, False
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        payload = await self.reader.readexactly(length)
        self.reusable = not closing
        return status, payload

    def close(self) -> None:
        self.writer.close()


class RawClient:
    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[Connection] = []

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
        body = json.dumps(payload).encode()
        head = (f"POST {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        wire = head.encode()
        while True:
            pooled = bool(self.idle)
            connection = self.idle.pop() if pooled else await self._open()
            try:
                reply = await connection.exchange(wire, body)
            except StaleConnectionError:
                connection.close()
                if pooled:  # the server's keep-alive timeout closed it meanwhile: the next
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            self._release(connection)
            return reply

    def _release(self, connection: Connection) -> None:
        if connection.reusable:
            self.idle.append(connection)
        else:
            connection.close()

    async def _open(self) -> Connection:
        return Connection(*await asyncio.open_connection(self.host, self.port))

    def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()
