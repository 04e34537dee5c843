"""Error mapping and retry policy, against scripted HTTP answers (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from yotel import (
    APIConnectionError,
    AsyncYotel,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    NoVoiceAgentConfigured,
    PermissionDenied,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    ValidationError,
    Yotel,
    YotelError,
)
from yotel.client.errors import error_from_response

Handler = Callable[[httpx.Request], httpx.Response]


def envelope(status: int, type_: str, **extra: object) -> httpx.Response:
    body = {"ok": False, "error": {"type": type_, "message": f"m-{type_}",
                                   "request_id": "req_1", "details": [{"loc": ["x"]}]}, **extra}
    return httpx.Response(status, json=body)


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def client(handler: Handler, retries: int = 2) -> Yotel:
    c = Yotel("yt_live_x", "http://yotel.test", max_retries=retries,
              transport=httpx.MockTransport(handler))
    c._http.config.__dict__["retry"] = RetryPolicy(max_retries=retries, initial_delay_s=0.001)
    return c


@pytest.mark.parametrize("status,type_,cls", [
    (400, "validation_error", ValidationError), (401, "authentication_error", AuthenticationError),
    (403, "permission_denied", PermissionDenied), (404, "not_found", NotFoundError),
    (409, "conflict", ConflictError), (422, "unprocessable", ValidationError),
    (424, "no_voice_agent_configured", NoVoiceAgentConfigured),
    (500, "server_error", ServerError), (503, "server_error", ServerError),
])
def test_envelope_maps_to_documented_class(status: int, type_: str, cls: type) -> None:
    handler, _ = scripted(envelope(status, type_))
    with client(handler, retries=0) as c, pytest.raises(cls) as info:
        c.voice_agents.get("a")
    err = info.value
    assert isinstance(err, YotelError)
    assert (err.status, err.type, err.request_id) == (status, type_, "req_1")
    assert err.message == f"m-{type_}" and err.details == [{"loc": ["x"]}]


def test_non_json_gateway_error_is_server_error_with_header_request_id() -> None:
    err = error_from_response(502, "<html>bad gateway</html>", {"x-request-id": "req_9"})
    assert isinstance(err, ServerError) and err.request_id == "req_9"


def test_rate_limited_carries_retry_after() -> None:
    err = error_from_response(429, {"ok": False, "error": {"type": "rate_limited",
                                                          "message": "slow"},
                                    "retry_after_s": 0.4}, {})
    assert isinstance(err, RateLimitedError) and err.retry_after_s == 0.4
    from_header = error_from_response(429, None, {"retry-after": "3"})
    assert isinstance(from_header, RateLimitedError) and from_header.retry_after_s == 3.0


def test_get_retries_5xx_then_succeeds() -> None:
    agent = {"id": "a", "name": "n", "ws_url": "wss://x", "has_auth_token": False,
             "audio": {"encoding": "pcmu", "sample_rate": 8000, "frame_ms": 20},
             "max_concurrent": 100, "token_lifetime": "ws_session",
             "subprotocol": "audio.drachtio.org", "active_calls": 0,
             "created_at": "2026-11-23T01:00:00Z", "updated_at": "2026-11-23T01:00:00Z"}
    handler, seen = scripted(envelope(503, "server_error"), httpx.ConnectError("refused"),
                             httpx.Response(200, json=agent))
    with client(handler) as c:
        assert c.voice_agents.get("a").id == "a"
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer yt_live_x"


def test_retries_are_bounded() -> None:
    handler, seen = scripted(*(envelope(500, "server_error") for _ in range(3)))
    with client(handler) as c, pytest.raises(ServerError):
        c.voice_agents.delete("a")
    assert len(seen) == 3  # first try + max_retries


def test_post_without_idempotency_key_is_not_retried_on_5xx() -> None:
    handler, seen = scripted(envelope(500, "server_error"))
    with client(handler) as c, pytest.raises(ServerError):
        c.voice_agents.create(name="n", ws_url="wss://x")
    assert len(seen) == 1


def test_429_is_retried_for_any_method_after_retry_after() -> None:
    handler, seen = scripted(envelope(429, "rate_limited", retry_after_s=0.01),
                             envelope(400, "validation_error"))
    with client(handler) as c, pytest.raises(ValidationError):
        c.voice_agents.create(name="n", ws_url="wss://x")
    assert len(seen) == 2  # the 400 is final


def test_other_4xx_are_never_retried() -> None:
    handler, seen = scripted(envelope(404, "not_found"))
    with client(handler) as c, pytest.raises(NotFoundError):
        c.voice_agents.get("a")
    assert len(seen) == 1


def test_connection_error_surfaces_as_api_connection_error() -> None:
    handler, _ = scripted(*(httpx.ConnectError("refused") for _ in range(3)))
    with client(handler) as c, pytest.raises(APIConnectionError):
        c.tenant.get()


def test_patch_sends_only_given_fields_and_null_clears() -> None:
    handler, seen = scripted(envelope(400, "validation_error"))
    with client(handler, retries=0) as c, pytest.raises(ValidationError):
        c.tenant.update(default_voice_agent_id=None, timezone="Europe/Paris")
    assert json.loads(seen[0].content) == {"default_voice_agent_id": None,
                                           "timezone": "Europe/Paris"}


def test_backoff_grows_and_honours_retry_after() -> None:
    policy = RetryPolicy(initial_delay_s=0.5, max_delay_s=8, jitter=0)
    err = ServerError("x", status=500)
    assert [policy.delay_s(err, n) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert policy.delay_s(RateLimitedError("x", retry_after_s=1.5), 0) == 1.5


def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOTEL_API_KEY", "yt_live_env")
    monkeypatch.setenv("YOTEL_BASE_URL", "http://env.test:9/")
    handler, seen = scripted(envelope(404, "not_found"))
    c = Yotel(transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(NotFoundError):
        c.tenant.get()
    assert str(seen[0].url) == "http://env.test:9/api/v1/tenant"
    assert seen[0].headers["authorization"] == "Bearer yt_live_env"
    monkeypatch.delenv("YOTEL_BASE_URL")
    assert Yotel().base_url == "http://127.0.0.1:8080"


async def test_async_client_maps_errors_the_same_way() -> None:
    handler, _ = scripted(envelope(403, "permission_denied"))
    async with AsyncYotel("k", "http://yotel.test", max_retries=0,
                          transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(PermissionDenied):
            await c.voice_agents.list()
