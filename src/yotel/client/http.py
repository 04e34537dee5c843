"""The request core shared by every resource: auth, idempotency keys, error mapping, retries.

A resource method describes its request as a `Call`; `SyncHttp.run` and `AsyncHttp.run` carry it
out, so each resource is written once and only the final `run` differs between the clients.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from yotel.client.errors import APIConnectionError, YotelError, error_from_response
from yotel.client.retry import RetryPolicy, is_idempotent

T = TypeVar("T")
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 30.0
API_PREFIX = "/api/v1"
USER_AGENT = "yotel-python/0.1"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    bearer: str | None = None  # a per-call callback token instead of the client's key


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
              max_retries: int) -> ClientConfig:
        return cls(api_key=api_key or os.environ.get("YOTEL_API_KEY"),
                   base_url=(base_url or os.environ.get("YOTEL_BASE_URL")
                             or DEFAULT_BASE_URL).rstrip("/"),
                   timeout_s=timeout_s, retry=RetryPolicy(max_retries=max_retries))


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
        if response.is_success:
            return call.parse(body)
        raise error_from_response(response.status_code, body, dict(response.headers))

    def retry_wait(self, call: Call[Any], error: YotelError, attempt: int) -> float | None:
        idempotent = is_idempotent(call.method, self.headers(call))
        if not self.config.retry.should_retry(error, attempt, idempotent=idempotent):
            return None
        return self.config.retry.delay_s(error, attempt)


class SyncHttp(_Core):
    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config)
        self.http = httpx.Client(timeout=config.timeout_s, transport=transport)

    def run(self, call: Call[T]) -> T:
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

    def _send(self, call: Call[Any]) -> httpx.Response:
        try:
            return self.http.send(self.request(call))
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self.http.close()


class AsyncHttp(_Core):
    def __init__(self, config: ClientConfig,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config)
        self.http = httpx.AsyncClient(timeout=config.timeout_s, transport=transport)

    async def run(self, call: Call[T]) -> T:
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

    async def _send(self, call: Call[Any]) -> httpx.Response:
        try:
            return await self.http.send(self.request(call))
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await self.http.aclose()
