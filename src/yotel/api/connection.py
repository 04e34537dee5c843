"""One HTTP/1.1 connection of the REST API: uvicorn's httptools protocol with the limits a public
edge needs (docs/api.md, "The HTTP edge").

uvicorn answers nothing and arms no timer until a request head has been parsed, and httptools
buffers a header of any size; so a client that opens a socket and trickles bytes (slowloris)
holds it forever, and a client sending megabytes of headers costs that memory. Here:
- the request head (request line and headers) must arrive within `header_timeout_s` of the
  connection or of the request's first byte, and the body within `body_timeout_s` after the
  head; otherwise the connection is closed;
- the head may hold at most `max_header_bytes`;
- what the parser refuses (bad framing, bad Content-Length, a non-ASCII path, headers over the
  limit) is answered with the JSON error envelope and an `X-Request-Id`, then the connection is
  closed (RFC 9112 §6.3: after a framing error the rest of the stream cannot be trusted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from yotel.api.errors import error_response
from yotel.domain.errors import ValidationError
from yotel.domain.ids import new_request_id
from yotel.settings import HttpLimits

log = logging.getLogger("yotel.api")


class HeadersTooLargeError(ValidationError):
    """The request line plus headers exceed the limit: a 400 like an oversized body (the spec's
    error table has no 431)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request headers larger than {limit} bytes", details=[
            {"loc": ["header"], "msg": "too large", "type": "headers_too_large"}])


class MalformedRequestError(ValidationError):
    default_message = "malformed HTTP request"


class _HeadTooLargeError(Exception):
    """Raised inside a parser callback to stop parsing; httptools re-raises it wrapped in
    `HttpParserCallbackError`, which uvicorn answers through `send_400_response`."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` with read timeouts, a header size limit and enveloped refusals.
    Subclass with `limits` set (see `protocol_class`)."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # raw bytes read while a head is unfinished (within one read)
        self._head_parsed = 0  # bytes of request line and headers the parser has handed us
        self._in_head = True
        self._refusal: ValidationError | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Data of a head still unfinished after this chunk is all head: refuse it as it grows
        # rather than after it has been buffered in full.
        if (self._in_head and self._head_bytes > self.limits.max_header_bytes
                and not self.transport.is_closing()):
            self._refusal = HeadersTooLargeError(self.limits.max_header_bytes)
            self.send_400_response("")

    # httptools callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_parsed = 0
        self._arm(self.limits.header_timeout_s, "request head")

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._arm(self.limits.body_timeout_s, "request body")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # uvicorn hooks
    def handle_websocket_upgrade(self) -> None:
        # The transport passes to uvicorn's WebSocket protocol (which has its own pings and
        # limits): our read timer must not close it later.
        self._disarm()
        super().handle_websocket_upgrade()

    def send_400_response(self, msg: str) -> None:
        """Every refusal of the parser, as our envelope (uvicorn's own is `text/plain`)."""
        self._disarm()
        error = self._refusal or MalformedRequestError()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is in flight: writing ours would corrupt it
            return
        request_id = new_request_id()
        log.warning("refused request %s: %s", request_id, error.message)
        self.transport.write(_render(error, request_id))
        self.transport.close()

    def _count_head(self, size: int) -> None:
        self._head_parsed += size
        if self._head_parsed > self.limits.max_header_bytes:
            self._refusal = HeadersTooLargeError(self.limits.max_header_bytes)
            raise _HeadTooLargeError

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._read_timed_out, what)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self, what: str) -> None:
        # RFC 9112 §9.6: a server may close a connection it no longer wants; an answer here could
        # interleave with a response the app is writing, so none is sent.
        self._read_timer = None
        if not self.transport.is_closing():
            log.info("closing a connection: %s not received in time", what)
            self.transport.close()


def protocol_class(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn instantiates per connection, carrying `limits`."""
    return type("YotelHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def _render(error: ValidationError, request_id: str) -> bytes:
    response = error_response(error, request_id)
    lines = [f"HTTP/1.1 {error.status} Bad Request".encode()]
    lines += [name + b": " + value for name, value in response.raw_headers]
    lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + bytes(response.body)
