"""A small HTTP/1.1 POST client for webhook deliveries: keep-alive connections pooled per
pinned origin, connect and read timeouts, no redirects (a 3xx is just a status), responses read
up to a cap. httpx's general-purpose pool costs O(connections * requests) of CPU per request
event, which at a few hundred concurrent deliveries became the dispatcher's bottleneck; a
webhook needs only this.

`parse_head` is pure (RFC 9112 §4 status line, §5 fields); `Http1Pool` does the I/O.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import defaultdict
from dataclasses import dataclass

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_IDLE_PER_ORIGIN = 64  # the default; the sender keeps as many as it may have in flight


class HttpError(Exception):
    """The exchange failed before a complete response head (connection, TLS, protocol)."""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    length: int | None  # Content-Length, None when absent
    keep_alive: bool


def parse_head(data: bytes) -> Head:
    """A response head (status line and fields, up to the blank line); `HttpError` if bad."""
    lines = data.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        raise HttpError("malformed HTTP status line")
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    length = fields.get(b"content-length")
    if length is not None and not length.isdigit():
        raise HttpError("malformed Content-Length")
    chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
    closing = fields.get(b"connection", b"").lower() == b"close" or version == b"HTTP/1.0"
    return Head(int(code), None if length is None else int(length),
                keep_alive=not closing and not chunked and length is not None)


def request_bytes(target: str, host: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


Origin = tuple[str, int, str | None]  # address, port, TLS server name (None: plain HTTP)
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Http1Pool:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float,
                 max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.max_idle_per_origin = max_idle_per_origin
        self._idle: defaultdict[Origin, list[Connection]] = defaultdict(list)
        self._tls = ssl.create_default_context()

    async def post(self, origin: Origin, request: bytes) -> int:
        """The response status. A reused connection the server had closed is retried once on
        a new one (RFC 9112 §9.3.1: a client may retry after a keep-alive race)."""
        idle = self._idle[origin]
        if idle:
            try:
                return await self._exchange(origin, idle.pop(), request)
            except (HttpError, OSError, asyncio.IncompleteReadError):
                pass
        return await self._exchange(origin, await self._open(origin), request)

    async def _open(self, origin: Origin) -> Connection:
        address, port, server_name = origin
        tls = self._tls if server_name is not None else None
        async with asyncio.timeout(self.connect_timeout_s):
            return await asyncio.open_connection(address, port, ssl=tls,
                                                 server_hostname=server_name,
                                                 limit=MAX_HEAD_BYTES)

    async def _exchange(self, origin: Origin, connection: Connection, request: bytes) -> int:
        reader, writer = connection
        reusable = False
        try:
            writer.write(request)
            async with asyncio.timeout(self.read_timeout_s):
                await writer.drain()
                try:
                    head = parse_head(await reader.readuntil(b"\r\n\r\n"))
                except asyncio.LimitOverrunError as exc:
                    raise HttpError("response head too large") from exc
                if head.length is not None and head.length <= MAX_BODY_BYTES:
                    await reader.readexactly(head.length)
                    reusable = head.keep_alive
            return head.status
        finally:
            if reusable and len(self._idle[origin]) < self.max_idle_per_origin:
                self._idle[origin].append(connection)
            else:
                writer.close()

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()
