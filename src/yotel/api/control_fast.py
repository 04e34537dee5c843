"""The Control API's hot path: `POST /api/v1/ai-sessions/{call_id}/control` answered without
FastAPI's router, dependency solver and body machinery.

A voice AI drives its call through this one endpoint, many times a second on a busy node; in
FastAPI's hands most of a verb's CPU went to routing, solving dependencies and re-validating
the body (docs/calls.md). This middleware, inside `RequestContextMiddleware` (request id, size
limit, text screens, access log, metrics), takes only the plain case: a JSON body that is one
valid verb, at most one `Idempotency-Key` within its limit. Anything else is handed, byte for
byte, to the FastAPI route, which stays the contract (its 400s, OpenAPI). The checks and the
verb are the same `ControlService.handle`; an error it raises is answered by the app's own
handler for it, so either path answers a request alike.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

from pydantic import ValidationError as PydanticValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from yotel.api.errors import yotel_error_response
from yotel.api.inputs import read_body, replay
from yotel.api.middleware import disconnected
from yotel.api.routes.control import IDEMPOTENCY_KEY_MAX
from yotel.control.bodies import Verb, parse_verb
from yotel.control.service import ControlService
from yotel.domain.errors import YotelError

PATH = "/ai-sessions/{call_id}/control"


class ControlFastPath:
    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self._path = re.compile(re.escape(prefix) + r"/ai-sessions/([^/]+)/control")
        self._route = SimpleNamespace(path=prefix + PATH)  # the metrics' route label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = self._path.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        body, instead = await read_body(receive)
        plain = None if body is None else _plain_request(scope, body)
        if plain is None:
            await self.app(scope, replay(body, receive, first=instead), send)
            return
        verb, idempotency_key, authorization = plain
        scope["route"] = self._route
        scope["path_params"] = {"call_id": match.group(1)}
        await self._answer(scope, send, match.group(1), verb, idempotency_key, authorization)

    @staticmethod
    async def _answer(scope: Scope, send: Send, call_id: str, verb: Verb,
                      idempotency_key: str | None, authorization: str | None) -> None:
        app = scope["app"]
        try:
            principal = await app.state.runtime.authenticator.authenticate(authorization)
            service: ControlService = app.state.control
            reply = await service.handle(call_id, principal, verb, idempotency_key)
        except YotelError as exc:
            response = yotel_error_response(Request(scope), exc)
        else:
            response = JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        await response(scope, disconnected, send)


def _plain_request(scope: Scope, body: bytes) -> tuple[Verb, str | None, str | None] | None:
    """(the verb, Idempotency-Key, Authorization) when the request is the plain case."""
    content_type, keys, authorization = None, [], None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value
        elif name == b"idempotency-key":
            keys.append(value.decode("latin-1"))
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    if content_type is None or content_type.split(b";")[0].strip().lower() != b"application/json":
        return None
    if len(keys) > 1 or (keys and len(keys[0]) > IDEMPOTENCY_KEY_MAX):
        return None
    try:
        verb = parse_verb(json.loads(body))
    except (ValueError, PydanticValidationError):  # not JSON, or not a verb: the route says
        return None
    return verb, keys[0] if keys else None, authorization

