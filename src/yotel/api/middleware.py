"""The outermost ASGI layer: request ids, the body-size limit, input screening (`inputs.py`), the
last-resort 500, metrics and the access log. Pure ASGI (no BaseHTTPMiddleware) so streaming and
cancellation behave.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from yotel.api.errors import error_response
from yotel.api.inputs import screen_target, screened_receive, wants_json_screen
from yotel.api.metrics import HttpMetrics
from yotel.domain.errors import ServerError, ValidationError, YotelError
from yotel.domain.ids import new_request_id

log = logging.getLogger("yotel.api")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLargeError(ValidationError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes",
                         details=[{"loc": ["body"], "msg": "too large", "type": "body_too_large"}])


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        exchange = _Exchange(scope, send, request_id)
        started = time.perf_counter()
        try:
            await self._call(scope, receive, exchange)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "<unmatched>")
            self.metrics.observe(scope["method"], route, exchange.status, elapsed)
            # The raw path is still percent-encoded: a %0A in it cannot forge a log line.
            raw_path = bytes(scope.get("raw_path") or b"").decode("latin-1")
            log.info("%s %s %d %.1fms %s", scope["method"], raw_path, exchange.status,
                     elapsed * 1000, request_id)

    async def _call(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        try:
            if _declared_length(scope) > self.max_body_bytes:
                raise BodyTooLargeError(self.max_body_bytes)
            screen_target(scope)
            receive = self._limited(receive)
            if wants_json_screen(scope):
                receive = await screened_receive(scope, receive)
            await self.app(scope, receive, exchange.send)
        except Exception as exc:  # the last resort: never a bare 500 without the envelope
            if exchange.response_started:
                raise
            if not isinstance(exc, YotelError):
                log.exception("unhandled error %s", exchange.request_id)
                exc = ServerError()
            await exchange.send_error(exc)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # chunked bodies carry no Content-Length to check up front
                    raise BodyTooLargeError(limit)
            return message

        return limited_receive


class _Exchange:
    """Tracks the response on its way out and stamps `X-Request-Id` on it."""

    def __init__(self, scope: Scope, send: Send, request_id: str) -> None:
        self.scope = scope
        self._send = send
        self.request_id = request_id
        self.status = 500
        self.response_started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.response_started = True
            self.status = int(message["status"])
            MutableHeaders(scope=message)["X-Request-Id"] = self.request_id
        await self._send(message)

    async def send_error(self, error: YotelError) -> None:
        response = error_response(error, self.request_id)
        await response(self.scope, disconnected, self.send)


async def disconnected() -> Message:
    """The `receive` of a response sent after the request was read: nothing more comes."""
    return {"type": "http.disconnect"}


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
