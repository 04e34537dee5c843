"""`Yotel` and `AsyncYotel`: the entry points of the SDK (PRODUCT.md §1)."""

from __future__ import annotations

from types import TracebackType

import httpx

from yotel.client.calls import (
    AiSessions,
    AsyncAiSessions,
    AsyncCallbacks,
    AsyncCalls,
    Callbacks,
    Calls,
)
from yotel.client.campaigns import AsyncCampaigns, AsyncLeads, Campaigns, Leads
from yotel.client.escalations import AsyncEscalations, AsyncSupervisor, Escalations, Supervisor
from yotel.client.http import DEFAULT_TIMEOUT_S, AsyncHttp, ClientConfig, SyncHttp
from yotel.client.retry import DEFAULT_MAX_RETRIES, RetryPolicy
from yotel.client.routing import (
    AgentQueues,
    Agents,
    AsyncAgentQueues,
    AsyncAgents,
    AsyncDnd,
    AsyncFlows,
    AsyncNumbers,
    Dnd,
    Flows,
    Numbers,
)
from yotel.client.sip_trunks import AsyncSipTrunks, SipTrunks
from yotel.client.tenant import AsyncTenantResource, TenantResource
from yotel.client.voice_agents import AsyncVoiceAgents, VoiceAgents
from yotel.client.webhooks import (
    AsyncWebhookDeliveries,
    AsyncWebhookEndpoints,
    WebhookDeliveries,
    WebhookEndpoints,
)


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
        self.sip_trunks = SipTrunks(self._http)
        self.campaigns = Campaigns(self._http)
        self.leads = Leads(self._http)
        self.dnd = Dnd(self._http)
        self.numbers = Numbers(self._http)
        self.flows = Flows(self._http)
        self.agents = Agents(self._http)
        self.agent_queues = AgentQueues(self._http)
        self.callbacks = Callbacks(self._http)
        self.calls = Calls(self._http)
        self.ai_sessions = AiSessions(self._http)
        self.escalations = Escalations(self._http)
        self.supervisor = Supervisor(self._http)
        self.webhook_endpoints = WebhookEndpoints(self._http)
        self.webhook_deliveries = WebhookDeliveries(self._http)

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
        self.sip_trunks = AsyncSipTrunks(self._http)
        self.campaigns = AsyncCampaigns(self._http)
        self.leads = AsyncLeads(self._http)
        self.dnd = AsyncDnd(self._http)
        self.numbers = AsyncNumbers(self._http)
        self.flows = AsyncFlows(self._http)
        self.agents = AsyncAgents(self._http)
        self.agent_queues = AsyncAgentQueues(self._http)
        self.callbacks = AsyncCallbacks(self._http)
        self.calls = AsyncCalls(self._http)
        self.ai_sessions = AsyncAiSessions(self._http)
        self.escalations = AsyncEscalations(self._http)
        self.supervisor = AsyncSupervisor(self._http)
        self.webhook_endpoints = AsyncWebhookEndpoints(self._http)
        self.webhook_deliveries = AsyncWebhookDeliveries(self._http)

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
