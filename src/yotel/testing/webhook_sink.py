"""A webhook receiver on 127.0.0.1 for tests (ours and our users'): a keep-alive HTTP/1.1
server that records every POST and answers what `respond` says, so tests can inject failures
and slow receivers:

    async with WebhookSink(respond=lambda d: 500 if d.attempt <= 3 else 200) as sink:
        ... sink.url ...; await sink.wait_for(lambda got: len(got) >= 6)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           400: "Bad Request", 410: "Gone", 500: "Internal Server Error",
           503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Received:
    """One request: lower-cased headers, raw body, arrival time (`time.time()`), and which
    attempt of this `webhook-id` it is (1 for the first)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    attempt: int

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


Respond = Callable[[Received], int | Awaitable[int]]


def _always_ok(_: Received) -> int:
    return 200


class WebhookSink:
    def __init__(self, respond: Respond = _always_ok, *, path: str = "/hooks") -> None:
        self.respond = respond
        self.path = path
        self.url = ""
        self.received: list[Received] = []  # every request, answered or not yet
        self.accepted: list[Received] = []  # those answered 2xx
        self._attempts: Counter[str] = Counter()
        self._changed = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> WebhookSink:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for(self, check: Callable[[list[Received]], bool],
                       timeout: float = 10.0) -> list[Received]:
        """Wait until `check(accepted)` holds; the accepted requests."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: check(self.accepted))
        return self.accepted

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass
        except asyncio.CancelledError:
            # Closed by __aexit__: end quietly (asyncio's server callback would otherwise log
            # the cancelled handler as an error).
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD_BYTES:
            return False
        request_line, *lines = head.decode("latin-1").split("\r\n")
        path = request_line.split(" ")[1] if " " in request_line else ""
        headers = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        if size > MAX_BODY_BYTES:
            return False
        body = await reader.readexactly(size)
        key = headers.get("webhook-id", "")
        self._attempts[key] += 1
        got = Received(path, headers, body, time.time(), self._attempts[key])
        self.received.append(got)
        status = self.respond(got)
        if not isinstance(status, int):
            status = await status
        if 200 <= status < 300:
            self.accepted.append(got)
        reason = REASONS.get(status, "Status")
        extra = "Location: https://example.com/elsewhere\r\n" if 300 <= status < 400 else ""
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n{extra}\r\n".encode())
        await writer.drain()
        async with self._changed:
            self._changed.notify_all()
        return headers.get("connection", "").lower() != "close"
