"""Error mapping and retry policy, against scripted HTTP answers (httpx.MockTransport)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import BaseModel

from yotel import (
    APIConnectionError,
    AsyncYotel,
    AudioConfig,
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
from yotel.client.errors import error_from_response, parse_retry_after
from yotel.client.http import Call
from yotel.client.resource import Collection, SyncResource

Handler = Callable[[httpx.Request], httpx.Response]
FAST = RetryPolicy(max_retries=2, initial_delay_s=0.001, max_delay_s=1.0)
AGENT = {"id": "a", "name": "n", "ws_url": "wss://x", "has_auth_token": False,
         "audio": {"encoding": "pcmu", "sample_rate": 8000, "frame_ms": 20},
         "max_concurrent": 100, "token_lifetime": "ws_session",
         "subprotocol": "audio.drachtio.org", "active_calls": 0,
         "created_at": "2026-11-23T01:00:00Z", "updated_at": "2026-11-23T01:00:00Z"}


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


def client(handler: Handler, retry: RetryPolicy = FAST) -> Yotel:
    return Yotel("yt_live_x", "http://yotel.test", retry=retry,
                 transport=httpx.MockTransport(handler))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the sync client asks for, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr("yotel.client.http.time.sleep", waits.append)
    return waits


@pytest.mark.parametrize("status,type_,cls", [
    (400, "validation_error", ValidationError), (401, "authentication_error", AuthenticationError),
    (403, "permission_denied", PermissionDenied), (404, "not_found", NotFoundError),
    (409, "conflict", ConflictError), (422, "unprocessable", ValidationError),
    (424, "no_voice_agent_configured", NoVoiceAgentConfigured),
    (424, "subprotocol_mismatch", NoVoiceAgentConfigured),
    (429, "max_concurrent", RateLimitedError),
    (500, "server_error", ServerError), (503, "server_error", ServerError),
])
def test_envelope_maps_to_documented_class(status: int, type_: str, cls: type) -> None:
    handler, _ = scripted(envelope(status, type_))
    with client(handler, RetryPolicy(max_retries=0)) as c, pytest.raises(cls) as info:
        c.voice_agents.get("a")
    err = info.value
    assert isinstance(err, YotelError) and type(err) is cls
    assert (err.status, err.type, err.request_id) == (status, type_, "req_1")
    assert err.message == f"m-{type_}" and err.details == [{"loc": ["x"]}]
    assert err.body["error"]["type"] == type_
    assert str(err) == f"{status} {type_}: m-{type_} (request req_1)"


def test_type_wins_over_status_and_unknown_status_is_the_base_class() -> None:
    body = {"ok": False, "error": {"type": "conflict", "message": "m"}}
    assert type(error_from_response(400, body, {})) is ConflictError
    teapot = error_from_response(418, {"ok": False, "error": {"type": "teapot"}}, {})
    assert type(teapot) is YotelError and teapot.status == 418 and teapot.message == "HTTP 418"


def test_non_json_gateway_error_is_server_error_with_header_request_id() -> None:
    handler, seen = scripted(*(httpx.Response(502, text="<html>bad gateway</html>",
                                              headers={"X-Request-Id": "req_9"})
                               for _ in range(3)))
    with client(handler) as c, pytest.raises(ServerError) as info:
        c.voice_agents.get("a")
    assert info.value.request_id == "req_9" and info.value.body == "<html>bad gateway</html>"
    assert info.value.status == 502 and len(seen) == 3


def test_rate_limited_carries_retry_after_from_body_or_header() -> None:
    err = error_from_response(429, {"ok": False, "error": {"type": "rate_limited",
                                                          "message": "slow"},
                                    "retry_after_s": 0.4}, {"retry-after": "1"})
    assert isinstance(err, RateLimitedError) and err.retry_after_s == 0.4
    from_header = error_from_response(429, None, {"retry-after": "3"})
    assert isinstance(from_header, RateLimitedError) and from_header.retry_after_s == 3.0
    neither = error_from_response(429, None, {"retry-after": "soon"})
    assert isinstance(neither, RateLimitedError) and neither.retry_after_s is None


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 23 Nov 2026 10:00:05 GMT", now) == 5.0
    assert parse_retry_after("Mon, 23 Nov 2026 09:59:00 GMT", now) == 0.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("-1", now) is None


def test_get_retries_5xx_and_connection_errors_then_succeeds(sleeps: list[float]) -> None:
    handler, seen = scripted(envelope(503, "server_error"), httpx.ConnectError("refused"),
                             httpx.Response(200, json=AGENT))
    with client(handler) as c:
        assert c.voice_agents.get("a").id == "a"
    assert len(seen) == 3 and len(sleeps) == 2
    assert seen[0].headers["authorization"] == "Bearer yt_live_x"
    assert "idempotency-key" not in seen[0].headers


def test_retries_are_bounded(sleeps: list[float]) -> None:
    handler, seen = scripted(*(envelope(500, "server_error") for _ in range(3)))
    with client(handler) as c, pytest.raises(ServerError):
        c.voice_agents.delete("a")
    assert len(seen) == 3  # first try + max_retries


@pytest.mark.parametrize("answer", [envelope(500, "server_error"),
                                    envelope(429, "rate_limited", retry_after_s=0.01),
                                    httpx.ConnectError("reset")])
def test_post_without_idempotency_key_is_never_retried(answer: httpx.Response | Exception,
                                                       sleeps: list[float]) -> None:
    handler, seen = scripted(answer)
    with client(handler) as c, pytest.raises((ServerError, RateLimitedError, APIConnectionError)):
        c.voice_agents.create(name="n", ws_url="wss://x")
    assert len(seen) == 1 and sleeps == []
    assert "idempotency-key" not in seen[0].headers


def test_429_waits_for_the_servers_retry_after(sleeps: list[float]) -> None:
    handler, seen = scripted(envelope(429, "rate_limited", retry_after_s=0.25),
                             httpx.Response(200, json=AGENT))
    with client(handler) as c:
        assert c.voice_agents.get("a").id == "a"
    assert sleeps == [0.25] and len(seen) == 2


def test_429_asking_longer_than_the_policy_allows_is_not_retried(sleeps: list[float]) -> None:
    handler, seen = scripted(envelope(429, "rate_limited", retry_after_s=30))
    with client(handler) as c, pytest.raises(RateLimitedError) as info:
        c.voice_agents.get("a")
    assert info.value.retry_after_s == 30 and len(seen) == 1 and sleeps == []


def test_other_4xx_are_never_retried(sleeps: list[float]) -> None:
    handler, seen = scripted(envelope(404, "not_found"))
    with client(handler) as c, pytest.raises(NotFoundError):
        c.voice_agents.get("a")
    assert len(seen) == 1 and sleeps == []


class _Session(BaseModel):
    id: str


_SESSIONS = Collection("/ai-sessions", _Session)


class _Sessions(SyncResource):
    """What a later Control API resource looks like on this base: one verb, a few lines."""

    def hangup(self, call_id: str, *, metadata: dict[str, str] | None = None,
               callback_token: str | None = None,
               idempotency_key: str | None = None) -> dict[str, object]:
        return self._http.run(_SESSIONS.command(
            call_id, "control", dict, json={"event": "hangup", "metadata": metadata},
            bearer=callback_token, idempotency_key=idempotency_key, auto_idempotency_key=True))

    def get(self, call_id: str, *, callback_token: str | None = None) -> _Session:
        return self._http.run(_SESSIONS.get(call_id, bearer=callback_token))


def test_control_verb_keeps_one_key_across_retries_and_uses_the_callback_token(
        sleeps: list[float]) -> None:
    ok = {"ok": True}
    handler, seen = scripted(envelope(502, "server_error"), httpx.ReadTimeout("slow"),
                             httpx.Response(200, json=ok), httpx.Response(200, json=ok),
                             httpx.Response(200, json=ok), httpx.Response(200, json={"id": "c1"}))
    with client(handler) as c:
        sessions = _Sessions(c._http)
        assert sessions.hangup("c1", metadata={"reason": "done"},
                               callback_token="yt_cb_token") == ok
        sessions.hangup("c1")  # a second logical call: a new key, the client's own key
        sessions.hangup("c1", idempotency_key="order-42")  # cross-process dedup: caller's key
        assert sessions.get("c1", callback_token="yt_cb_other").id == "c1"
    keys = [r.headers.get("idempotency-key") for r in seen]
    assert len(set(keys[:3])) == 1 and uuid.UUID(keys[0]).version == 4 and len(sleeps) == 2
    assert keys[3] not in (None, keys[0]) and keys[4] == "order-42" and keys[5] is None
    assert [r.headers["authorization"] for r in seen] == [
        "Bearer yt_cb_token"] * 3 + ["Bearer yt_live_x"] * 2 + ["Bearer yt_cb_other"]
    assert seen[0].method == "POST" and seen[0].url.path == "/api/v1/ai-sessions/c1/control"
    assert json.loads(seen[0].content) == {"event": "hangup", "metadata": {"reason": "done"}}


def test_auto_key_makes_a_post_retryable_and_none_is_sent_without_it(
        sleeps: list[float]) -> None:
    handler, seen = scripted(envelope(503, "server_error"), httpx.Response(200, json=AGENT))
    with client(handler) as c:
        c._http.run(Call("POST", "/voice-agents/a/start", dict, auto_idempotency_key=True))
    assert len(seen) == 2 and seen[0].headers["idempotency-key"] == seen[1].headers[
        "idempotency-key"]
    handler, seen = scripted(envelope(503, "server_error"))
    with client(handler) as c, pytest.raises(ServerError):
        c._http.run(_SESSIONS.action("c1", "start"))
    assert len(seen) == 1 and "idempotency-key" not in seen[0].headers


def test_connection_error_surfaces_as_api_connection_error(sleeps: list[float]) -> None:
    handler, seen = scripted(*(httpx.ConnectError("refused") for _ in range(3)))
    with client(handler) as c, pytest.raises(APIConnectionError) as info:
        c.tenant.get()
    assert info.value.status is None and len(seen) == 3 and len(sleeps) == 2


def test_unexpected_success_body_is_a_yotel_error() -> None:
    handler, _ = scripted(httpx.Response(200, json={"id": "a"}, headers={"X-Request-Id": "r"}))
    with client(handler) as c, pytest.raises(YotelError) as info:
        c.voice_agents.get("a")
    assert info.value.type == "invalid_response" and info.value.request_id == "r"


def test_fields_are_checked_like_a_signature() -> None:
    handler, seen = scripted()
    with client(handler) as c:
        with pytest.raises(TypeError, match="max_concurent"):
            c.voice_agents.create(name="n", ws_url="wss://x", max_concurent=5)  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="ws_url"):
            c.voice_agents.create(name="n")  # type: ignore[call-arg]
    assert seen == []


def test_only_given_fields_are_sent_null_clears_and_models_serialise() -> None:
    handler, seen = scripted(envelope(400, "validation_error"), envelope(400, "validation_error"))
    with client(handler, RetryPolicy(max_retries=0)) as c:
        with pytest.raises(ValidationError):
            c.tenant.update(default_voice_agent_id=None, timezone="Europe/Paris")
        with pytest.raises(ValidationError):
            c.voice_agents.update("a", audio=AudioConfig(encoding="pcma"), auth_token=None)
    assert json.loads(seen[0].content) == {"default_voice_agent_id": None,
                                           "timezone": "Europe/Paris"}
    assert json.loads(seen[1].content) == {
        "audio": {"encoding": "pcma", "sample_rate": 8000, "frame_ms": 20}, "auth_token": None}
    assert seen[1].method == "PATCH" and seen[1].url.path == "/api/v1/voice-agents/a"


def test_backoff_grows_with_bounded_jitter() -> None:
    exact = RetryPolicy(initial_delay_s=0.5, max_delay_s=8, jitter=0, max_retries=10)
    err = ServerError("x", status=500)
    assert [exact.next_delay_s(err, n, idempotent=True) for n in range(6)] == [
        0.5, 1, 2, 4, 8, 8]
    jittered = RetryPolicy(initial_delay_s=1, jitter=0.25)
    delays = {jittered.backoff_s(0) for _ in range(50)}
    assert all(0.75 <= d <= 1.25 for d in delays) and len(delays) > 1
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    with pytest.raises(AttributeError):
        exact.max_retries = 3  # type: ignore[misc]


def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOTEL_API_KEY", "yt_live_env")
    monkeypatch.setenv("YOTEL_BASE_URL", "http://env.test:9/")
    handler, seen = scripted(envelope(404, "not_found"))
    with Yotel(transport=httpx.MockTransport(handler), max_retries=0) as c:
        assert c.retry.max_retries == 0
        with pytest.raises(NotFoundError):
            c.tenant.get()
    assert str(seen[0].url) == "http://env.test:9/api/v1/tenant"
    assert seen[0].headers["authorization"] == "Bearer yt_live_env"
    monkeypatch.delenv("YOTEL_BASE_URL")
    monkeypatch.delenv("YOTEL_API_KEY")
    with Yotel() as c:
        assert c.base_url == "http://127.0.0.1:8080" and c.retry == RetryPolicy()


async def test_async_client_retries_and_maps_errors_the_same_way() -> None:
    page = {"data": [AGENT], "next_cursor": "c2"}
    last = {"data": [{**AGENT, "id": "b"}], "next_cursor": None}
    handler, seen = scripted(envelope(503, "server_error"), httpx.Response(200, json=page),
                             httpx.Response(200, json=last), envelope(403, "permission_denied"))
    async with AsyncYotel("k", "http://yotel.test", retry=FAST,
                          transport=httpx.MockTransport(handler)) as c:
        assert [a.id async for a in c.voice_agents.iter(limit=1)] == ["a", "b"]
        with pytest.raises(PermissionDenied):
            await c.voice_agents.delete("a")
    assert [r.url.params.get("cursor") for r in seen[:3]] == [None, None, "c2"]
    assert seen[0].url.params["limit"] == "1" and len(seen) == 4
