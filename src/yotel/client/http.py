"""The request core shared by every resource: auth, idempotency keys, error mapping, retries,
pagination.

A resource method describes its request as a `Call`; `SyncHttp.run` and `AsyncHttp.run` carry it
out, so each request is written once and only the final `run` differs between the clients.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import pydantic

from yotel.client.errors import APIConnectionError, YotelError, error_from_response
from yotel.client.models import Page
from yotel.client.retry import RetryPolicy, is_idempotent

T = TypeVar("T")
M = TypeVar("M")
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0
API_PREFIX = "/api/v1"
USER_AGENT = "yotel-python/0.1"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer.

    `auto_idempotency_key`: a state-changing request the server deduplicates (Control API verbs,
    originate) gets a fresh UUID v4 `Idempotency-Key` unless `idempotency_key` is given; the key
    is made once per call, so every retry of it carries the same key.
    """

    method: str
    path: str
    parse: Callable[[Any], T]
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    auto_idempotency_key: bool = False
    bearer: str | None = None  # a per-call callback token instead of the client's key

    def with_idempotency_key(self) -> Call[T]:
        if self.idempotency_key or not self.auto_idempotency_key:
            return self
        return dataclasses.replace(self, idempotency_key=new_idempotency_key())


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ClientConfig:
    api_key: str | None
    base_url: str
    timeout_s: float
    retry: RetryPolicy

    @classmethod
    def build(cls, api_key: str | None, base_url: str | None, timeout_s: float,
              retry: RetryPolicy) -> ClientConfig:
        return cls(api_key=api_key or os.environ.get("YOTEL_API_KEY"),
                   base_url=(base_url or os.environ.get("YOTEL_BASE_URL")
                             or DEFAULT_BASE_URL).rstrip("/"),
                   timeout_s=timeout_s, retry=retry)


class _Core:
    def __init__(self, config: ClientConfig) -> None:
        self.config = config

    def headers(self, call: Call[Any]) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        token = call.bearer or self.config.api_key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if call.idempotency_key:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def request(self, call: Call[Any]) -> httpx.Request:
        params = {k: v for k, v in call.params.items() if v is not None}
        return httpx.Request(call.method, f"{self.config.base_url}{API_PREFIX}{call.path}",
                             headers=self.headers(call), params=params, json=call.json)

    @staticmethod
    def outcome(call: Call[T], response: httpx.Response) -> T:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = response.text
        if not response.is_success:
            raise error_from_response(response.status_code, body, dict(response.headers))
        try:
            return call.parse(body)
        except pydantic.ValidationError as exc:
            raise YotelError(f"unexpected response shape: {exc.error_count()} error(s)",
                             status=response.status_code, type="invalid_response",
                             request_id=response.headers.get("x-request-id"),
                             details=exc.errors(include_input=False), body=body) from exc

    def retry_wait(self, call: Call[Any], error: YotelError, attempt: int) -> float | None:
        idempotent = is_idempotent(call.method, call.idempotency_key)
        return self.config.retry.next_delay_s(error, attempt, idempotent=idempotent)

    @staticmethod
    def transport_error(exc: httpx.TransportError) -> APIConnectionError:
        return APIConnectionError(f"{type(exc).__name__}: {exc}")


class SyncHttp(_Core):
    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config)
        self.http = httpx.Client(timeout=config.timeout_s, transport=transport)

    def run(self, call: Call[T]) -> T:
        call = call.with_idempotency_key()
        attempt = 0
        while True:
            try:
                return self.outcome(call, self._send(call))
            except YotelError as error:
                wait = self.retry_wait(call, error, attempt)
                if wait is None:
                    raise
                time.sleep(wait)
                attempt += 1

    def paginate(self, page: Callable[[str | None], Call[Page[M]]]) -> Iterator[M]:
        """Every item, following `next_cursor` page after page (`page(cursor)` builds one)."""
        cursor: str | None = None
        while True:
            result = self.run(page(cursor))
            yield from result.data
            if not result.next_cursor:
                return
            cursor = result.next_cursor

    def _send(self, call: Call[Any]) -> httpx.Response:
        try:
            return self.http.send(self.request(call))
        except httpx.TransportError as exc:
            raise self.transport_error(exc) from exc

    def close(self) -> None:
        self.http.close()


class AsyncHttp(_Core):
    def __init__(self, config: ClientConfig,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config)
        self.http = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)

    async def run(self, call: Call[T]) -> T:
        call = call.with_idempotency_key()
        attempt = 0
        while True:
            try:
                return self.outcome(call, await self._send(call))
            except YotelError as error:
                wait = self.retry_wait(call, error, attempt)
                if wait is None:
                    raise
                await asyncio.sleep(wait)
                attempt += 1

    async def paginate(self, page: Callable[[str | None], Call[Page[M]]]) -> AsyncIterator[M]:
        cursor: str | None = None
        while True:
            result = await self.run(page(cursor))
            for item in result.data:
                yield item
            if not result.next_cursor:
                return
            cursor = result.next_cursor

    async def _send(self, call: Call[Any]) -> httpx.Response:
        try:
            return await self.http.send(self.request(call))
        except httpx.TransportError as exc:
            raise self.transport_error(exc) from exc

    async def close(self) -> None:
        await self.http.aclose()
