"""`client.escalations` and `client.supervisor` (PRODUCT.md §4, scope `supervisor`).

    with client.supervisor.stream(supervisor_id=me) as events:      # sync
        for event in events:
            if event.type == "escalation.created":
                client.escalations.claim(event.escalation.id, supervisor_id=me)

    async with aclient.supervisor.stream() as events:                # async
        async for event in events: ...

The stream is a WebSocket to `/api/v1/supervisor/stream` with the client's key as a bearer header.
Events are typed: `EscalationEvent` (`escalation.created` / `escalation.claimed`, with the
`Escalation`) and `StreamWarning` (the server dropped frames for this socket: re-read
`escalations.list(status="open")`); frame types this SDK does not know yet are skipped. A refused
upgrade (401/403/404) raises the SDK's usual error; the iteration ends when the server closes
normally. The library is `websockets`, imported when a stream opens.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode

import pydantic

from yotel.client.errors import (
    APIConnectionError,
    YotelError,
    error_class,
    error_from_response,
)
from yotel.client.http import API_PREFIX, USER_AGENT, Call, ClientConfig
from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection as AsyncConnection
    from websockets.sync.client import ClientConnection as SyncConnection

Urgency = Literal["low", "normal", "high", "critical"]
EscalationStatus = Literal["open", "claimed", "closed"]
OPEN_TIMEOUT_S = 10.0
_CLOSE_STATUS = {4001: 401, 4003: 403, 4004: 404}  # the server's close codes for a refusal


class Escalation(Model):
    id: str
    call_id: str
    reason: str
    urgency: Urgency
    status: EscalationStatus
    supervisor_id: str | None = None
    created_at: datetime
    claimed_at: datetime | None = None


class EscalationEvent(Model):
    type: Literal["escalation.created", "escalation.claimed"]
    escalation: Escalation


class StreamWarning(Model):
    type: Literal["warning"]
    code: str
    dropped: int = 0
    message: str = ""


SupervisorEvent = Annotated[EscalationEvent | StreamWarning, pydantic.Field(discriminator="type")]
_EVENT: pydantic.TypeAdapter[EscalationEvent | StreamWarning] = pydantic.TypeAdapter(
    SupervisorEvent)
_KNOWN = {"escalation.created", "escalation.claimed", "warning"}
_ESCALATIONS = Collection("/escalations", Escalation)


def _list(status: EscalationStatus | None, limit: int | None,
          cursor: str | None) -> Call[Page[Escalation]]:
    return _ESCALATIONS.list(status=status, limit=limit, cursor=cursor)


def _claim(escalation_id: str, supervisor_id: str) -> Call[Escalation]:
    return _ESCALATIONS.command(escalation_id, "claim", Escalation.model_validate,
                                json={"supervisor_id": supervisor_id})


class Escalations(SyncResource):
    def list(self, *, status: EscalationStatus | None = None, limit: int | None = None,
             cursor: str | None = None) -> Page[Escalation]:
        return self._http.run(_list(status, limit, cursor))

    def iter(self, *, status: EscalationStatus | None = None,
             limit: int | None = None) -> Iterator[Escalation]:
        return self._http.paginate(lambda cursor: _list(status, limit, cursor))

    def get(self, escalation_id: str) -> Escalation:
        return self._http.run(_ESCALATIONS.get(escalation_id))

    def claim(self, escalation_id: str, *, supervisor_id: str) -> Escalation:
        """First claim wins; a later one raises `ConflictError` (409)."""
        return self._http.run(_claim(escalation_id, supervisor_id))


class AsyncEscalations(AsyncResource):
    async def list(self, *, status: EscalationStatus | None = None, limit: int | None = None,
                   cursor: str | None = None) -> Page[Escalation]:
        return await self._http.run(_list(status, limit, cursor))

    def iter(self, *, status: EscalationStatus | None = None,
             limit: int | None = None) -> AsyncIterator[Escalation]:
        return self._http.paginate(lambda cursor: _list(status, limit, cursor))

    async def get(self, escalation_id: str) -> Escalation:
        return await self._http.run(_ESCALATIONS.get(escalation_id))

    async def claim(self, escalation_id: str, *, supervisor_id: str) -> Escalation:
        """First claim wins; a later one raises `ConflictError` (409)."""
        return await self._http.run(_claim(escalation_id, supervisor_id))


class Supervisor(SyncResource):
    def stream(self, *, supervisor_id: str | None = None) -> SupervisorStream:
        """The live push; with `supervisor_id`, only while that supervisor is on duty."""
        return SupervisorStream(self._http.config, supervisor_id)


class AsyncSupervisor(AsyncResource):
    def stream(self, *, supervisor_id: str | None = None) -> AsyncSupervisorStream:
        """The live push; with `supervisor_id`, only while that supervisor is on duty."""
        return AsyncSupervisorStream(self._http.config, supervisor_id)


class AsyncSupervisorStream:
    """`async with` it, then `async for event in stream`."""

    def __init__(self, config: ClientConfig, supervisor_id: str | None) -> None:
        self._url, self._headers = _target(config, supervisor_id)
        self._ws: AsyncConnection | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> AsyncSupervisorStream:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            self._ws = await self._stack.enter_async_context(connect(
                self._url, additional_headers=self._headers, open_timeout=OPEN_TIMEOUT_S,
                user_agent_header=USER_AGENT))
        except InvalidStatus as exc:
            raise _refused(exc) from exc
        except OSError as exc:
            raise _unreachable(exc) from exc
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        await self._stack.aclose()

    def __aiter__(self) -> AsyncIterator[EscalationEvent | StreamWarning]:
        return self._events()

    async def _events(self) -> AsyncIterator[EscalationEvent | StreamWarning]:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise RuntimeError("use `async with client.supervisor.stream() as events`")
        try:
            async for message in self._ws:
                event = parse_event(message)
                if event is not None:
                    yield event
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        _raise_if_refused(self._ws.close_code, self._ws.close_reason)


class SupervisorStream:
    """`with` it, then `for event in stream` (blocking reads on a `websockets` sync client)."""

    def __init__(self, config: ClientConfig, supervisor_id: str | None) -> None:
        self._url, self._headers = _target(config, supervisor_id)
        self._ws: SyncConnection | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> SupervisorStream:
        from websockets.exceptions import InvalidStatus
        from websockets.sync.client import connect

        try:
            self._ws = self._stack.enter_context(connect(
                self._url, additional_headers=self._headers, open_timeout=OPEN_TIMEOUT_S,
                user_agent_header=USER_AGENT))
        except InvalidStatus as exc:
            raise _refused(exc) from exc
        except OSError as exc:
            raise _unreachable(exc) from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Safe from another thread: it ends a blocked iteration."""
        if self._ws is not None:
            self._ws.close()
        self._stack.close()

    def __iter__(self) -> Iterator[EscalationEvent | StreamWarning]:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise RuntimeError("use `with client.supervisor.stream() as events`")
        try:
            for message in self._ws:
                event = parse_event(message)
                if event is not None:
                    yield event
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        _raise_if_refused(self._ws.close_code, self._ws.close_reason)


def parse_event(message: str | bytes) -> EscalationEvent | StreamWarning | None:
    """One frame of the stream; None for a frame type this SDK does not know."""
    body = json.loads(message)
    if not isinstance(body, dict) or body.get("type") not in _KNOWN:
        return None
    return _EVENT.validate_python(body)


def _target(config: ClientConfig, supervisor_id: str | None) -> tuple[str, dict[str, str]]:
    base = config.base_url
    scheme = "wss" if base.startswith("https://") else "ws"
    url = f"{scheme}://{base.split('://', 1)[1]}{API_PREFIX}/supervisor/stream"
    if supervisor_id is not None:
        url += "?" + urlencode({"supervisor_id": supervisor_id})
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return url, headers


def _refused(exc: Any) -> YotelError:
    response = exc.response
    try:
        body = json.loads(bytes(response.body or b""))
    except ValueError:
        body = None
    headers = {name.lower(): value for name, value in response.headers.raw_items()}
    return error_from_response(int(response.status_code), body, headers)


def _closed(exc: Any) -> YotelError:
    frame = exc.rcvd
    if frame is not None and frame.code in _CLOSE_STATUS:
        return _status_error(frame.code, frame.reason)
    return APIConnectionError(f"the supervisor stream was cut: {exc}")


def _raise_if_refused(code: int | None, reason: str | None) -> None:
    if code is not None and code in _CLOSE_STATUS:
        raise _status_error(code, reason or "")


def _status_error(code: int, reason: str) -> YotelError:
    status = _CLOSE_STATUS[code]
    return error_class(status)(reason or f"refused ({status})", status=status)


def _unreachable(exc: OSError) -> YotelError:
    return APIConnectionError(f"the supervisor stream could not connect: {exc}")


__all__ = [
    "AsyncEscalations", "AsyncSupervisor", "AsyncSupervisorStream", "Escalation",
    "EscalationEvent", "Escalations", "StreamWarning", "Supervisor", "SupervisorEvent",
    "SupervisorStream", "parse_event",
]
