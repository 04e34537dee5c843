"""Acceptance: call records, AI sessions and callbacks are read (and callbacks cancelled) over
real HTTP. The rows are written the way the call layer writes them: straight into the
database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from yotel.db.engine import Database
from yotel.db.models import AiSession, Call, Callback
from yotel.domain.ids import new_id

from .envelope import assert_error, walk

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _call(tenant_id: str, minute: int, **fields: Any) -> Call:
    values: dict[str, Any] = {
        "id": new_id(), "tenant_id": tenant_id, "direction": "outbound",
        "from_": "+14155550100", "to": "+14155550111", "state": "ended", "outcome": "hangup",
        "started_at": T0 + timedelta(minutes=minute),
        "created_at": T0 + timedelta(minutes=minute), **fields}
    return Call(**values)


async def test_calls_list_filters_get_and_fence(http: httpx.AsyncClient, db: Database,
                                                make_tenant_key: Any) -> None:
    tk = await make_tenant_key("calls:read", "campaigns:write")
    campaign = (await http.post("/api/v1/campaigns", headers=tk.headers, json={})).json()
    calls = [
        _call(tk.tenant_id, 0, campaign_id=campaign["id"], answered_at=T0, ended_at=T0,
              recording_path="/rec/a.wav", disposition="sale", disposition_source="ai"),
        _call(tk.tenant_id, 1, state="ringing", outcome=None),
        _call(tk.tenant_id, 2, direction="inbound", outcome="caller_hangup"),
        _call(tk.tenant_id, 3, outcome="busy", campaign_id=campaign["id"]),
    ]
    other = await make_tenant_key("calls:read")
    async with db.write() as session:
        session.add_all([*calls, _call(other.tenant_id, 0)])
    everything = await walk(http, "/api/v1/calls", tk.headers, limit=3)
    assert [c["id"] for c in everything] == [c.id for c in calls]
    first = everything[0]
    assert (first["from"], first["to"], first["state"], first["outcome"], first["disposition"],
            first["disposition_source"], first["campaign_id"]) == (
        "+14155550100", "+14155550111", "ended", "hangup", "sale", "ai", campaign["id"])
    assert first["recording"]["url"].endswith(f"/api/v1/calls/{calls[0].id}/recording")
    assert first["recording"]["stereo"] is True
    assert first["recording"]["channels"] == {"left": "caller", "right": "ai"}
    assert everything[1]["recording"] is None and everything[1]["ended_at"] is None

    async def ids(**params: Any) -> list[str]:
        return [c["id"] for c in await walk(http, "/api/v1/calls", tk.headers, limit=50,
                                            **params)]

    assert await ids(campaign_id=campaign["id"]) == [calls[0].id, calls[3].id]
    assert await ids(state="ringing") == [calls[1].id]
    assert await ids(direction="inbound") == [calls[2].id]
    assert await ids(outcome="busy") == [calls[3].id]
    assert await ids(since="2026-11-01T12:01:00Z", until="2026-11-01T12:03:00Z") == [
        calls[1].id, calls[2].id]
    # RFC 3339 date-times only (the schema's `format`): a number, a naive time, a day that does
    # not exist are 400; offsets and extreme years are read, never a 500.
    assert await ids(since="2026-11-01T13:01:00+01:00", until="0001-01-01T00:00:00+05:00") == []
    assert len(await ids(until="9999-12-31T23:59:59-05:00")) == 4
    for params in ({"state": "flying"}, {"since": "yesterday"}, {"until": "2026-11-01T12:00"},
                   {"until": "0.5"}, {"since": "1700000000"}, {"since": "2026-02-30T00:00:00Z"},
                   {"since": "2026-11-01T12:00:00"}):
        assert_error(await http.get("/api/v1/calls", headers=tk.headers, params=params),
                     400, "validation_error")
    got = await http.get(f"/api/v1/calls/{calls[0].id}", headers=tk.headers)
    assert got.json() == first
    assert_error(await http.get(f"/api/v1/calls/{calls[0].id}", headers=other.headers),
                 404, "not_found")
    theirs = (await http.get("/api/v1/calls", headers=other.headers)).json()["data"]
    assert len(theirs) == 1 and theirs[0]["id"] not in {c.id for c in calls}
    no_scope = await make_tenant_key("campaigns:read", tenant_id=tk.tenant_id)
    assert_error(await http.get("/api/v1/calls", headers=no_scope.headers),
                 403, "permission_denied")


async def test_ai_session(http: httpx.AsyncClient, db: Database, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("calls:read")
    call = _call(tk.tenant_id, 0)
    logs = [{"at": "2026-11-01T12:00:01Z", "verb": "hold"}]
    async with db.write() as session:
        session.add(call)
        await session.flush()
        session.add(AiSession(call_id=call.id, tenant_id=tk.tenant_id, voice_agent_id=None,
                              started_at=T0, ended_at=T0 + timedelta(seconds=42.5),
                              outcome="hangup", metadata_={"logs": logs}))
    response = await http.get(f"/api/v1/ai-sessions/{call.id}", headers=tk.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["call_id"], body["outcome"], body["duration_s"], body["metadata"]["logs"]) == (
        call.id, "hangup", 42.5, logs)
    other = await make_tenant_key("calls:read")
    assert_error(await http.get(f"/api/v1/ai-sessions/{call.id}", headers=other.headers),
                 404, "not_found")
    assert_error(await http.get(f"/api/v1/ai-sessions/{new_id()}", headers=tk.headers),
                 404, "not_found")


async def test_callbacks_list_and_cancel(http: httpx.AsyncClient, db: Database,
                                         make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "voice_agents:write")
    agent = (await http.post("/api/v1/voice-agents", headers=tk.headers, json={
        "name": "a", "ws_url": "wss://ai.example.com"})).json()
    rows = [Callback(id=new_id(), tenant_id=tk.tenant_id, phone="+14155550100",
                     scheduled_at=T0 + timedelta(hours=i), reason="asked to call back",
                     voice_agent_id=agent["id"] if i == 0 else None, status=status,
                     attempts=0, created_at=T0 + timedelta(seconds=i))
            for i, status in enumerate(("scheduled", "dialing", "completed"))]
    async with db.write() as session:
        session.add_all(rows)
    listed = await walk(http, "/api/v1/callbacks", tk.headers, limit=2)
    assert [c["id"] for c in listed] == [r.id for r in rows]
    assert listed[0]["voice_agent_id"] == agent["id"] and listed[0]["status"] == "scheduled"
    only = (await http.get("/api/v1/callbacks", headers=tk.headers,
                           params={"status": "dialing"})).json()["data"]
    assert [c["id"] for c in only] == [rows[1].id]
    error = assert_error(await http.delete(f"/api/v1/voice-agents/{agent['id']}",
                                           headers=tk.headers), 409, "conflict")
    assert rows[0].id in error["message"]
    assert_error(await http.delete(f"/api/v1/callbacks/{rows[1].id}", headers=tk.headers),
                 409, "conflict")
    assert (await http.delete(f"/api/v1/callbacks/{rows[0].id}",
                              headers=tk.headers)).status_code == 204
    assert_error(await http.get(f"/api/v1/callbacks/{rows[0].id}", headers=tk.headers),
                 404, "not_found")
    assert (await http.delete(f"/api/v1/voice-agents/{agent['id']}",
                              headers=tk.headers)).status_code == 204
    other = await make_tenant_key("campaigns:write")
    assert_error(await http.delete(f"/api/v1/callbacks/{rows[2].id}", headers=other.headers),
                 404, "not_found")


async def test_everything_is_in_openapi(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, methods in {
        "/api/v1/sip-trunks": {"get", "post"}, "/api/v1/sip-trunks/{trunk_id}": {
            "get", "patch", "delete"},
        "/api/v1/campaigns": {"get", "post"}, "/api/v1/campaigns/{campaign_id}/leads": {
            "get", "post"},
        "/api/v1/campaigns/{campaign_id}/start": {"post"},
        "/api/v1/campaigns/{campaign_id}/pause": {"post"},
        "/api/v1/campaigns/{campaign_id}/resume": {"post"},
        "/api/v1/campaigns/{campaign_id}/stop": {"post"},
        "/api/v1/leads/{lead_id}": {"get", "patch"}, "/api/v1/dnd": {"get", "post"},
        "/api/v1/dnd/{key}": {"get", "delete"}, "/api/v1/numbers": {"get", "post"},
        "/api/v1/flows": {"get", "post"}, "/api/v1/flows/{flow_id}": {"get", "patch", "delete"},
        "/api/v1/agents": {"get", "post"}, "/api/v1/agent-queues": {"get", "post"},
        "/api/v1/callbacks": {"get"}, "/api/v1/callbacks/{callback_id}": {"get", "delete"},
        "/api/v1/calls": {"get"}, "/api/v1/calls/{call_id}": {"get"},
        "/api/v1/ai-sessions/{call_id}": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    call = spec["components"]["schemas"]["CallOut"]["properties"]
    assert "from" in call and "from_" not in call
    trunk = spec["components"]["schemas"]["TrunkOut"]["properties"]
    assert "has_password" in trunk and "password" not in trunk
