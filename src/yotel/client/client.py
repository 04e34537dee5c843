"""`Yotel` and `AsyncYotel`: the entry points of the SDK (PRODUCT.md §1)."""

from __future__ import annotations

from types import TracebackType

import httpx

from yotel.client.http import DEFAULT_TIMEOUT_S, AsyncHttp, ClientConfig, SyncHttp
from yotel.client.retry import DEFAULT_MAX_RETRIES, RetryPolicy
from yotel.client.tenant import AsyncTenantResource, TenantResource
from yotel.client.voice_agents import AsyncVoiceAgents, VoiceAgents


def _config(api_key: str | None, base_url: str | None, timeout: float, max_retries: int,
            retry: RetryPolicy | None) -> ClientConfig:
    return ClientConfig.build(api_key, base_url, timeout,
                              retry or RetryPolicy(max_retries=max_retries))


class Yotel:
    """Synchronous client. `api_key` defaults to `YOTEL_API_KEY`, `base_url` to
    `YOTEL_BASE_URL`, else `http://127.0.0.1:8080`. `retry` replaces the whole retry policy
    (`max_retries` only sets its count); `transport` is for tests (`httpx.MockTransport`)."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._http = SyncHttp(_config(api_key, base_url, timeout, max_retries, retry), transport)
        self.voice_agents = VoiceAgents(self._http)
        self.tenant = TenantResource(self._http)

    @property
    def base_url(self) -> str:
        return self._http.config.base_url

    @property
    def retry(self) -> RetryPolicy:
        return self._http.config.retry

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Yotel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncYotel:
    """Asynchronous client; the same resources, every method awaitable."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_retries: int = DEFAULT_MAX_RETRIES,
                 retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = AsyncHttp(_config(api_key, base_url, timeout, max_retries, retry),
                               transport)
        self.voice_agents = AsyncVoiceAgents(self._http)
        self.tenant = AsyncTenantResource(self._http)

    @property
    def base_url(self) -> str:
        return self._http.config.base_url

    @property
    def retry(self) -> RetryPolicy:
        return self._http.config.retry

    async def close(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> AsyncYotel:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
