"""Acceptance: campaigns and their leads over real HTTP: CRUD, the state machine (409 on an
impossible transition), live stats, bulk add with per-row rejections, lead PATCH, scopes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from yotel.db.engine import Database
from yotel.db.models import Lead

from .envelope import assert_error, walk

BASE = "/api/v1/campaigns"
AGENT = {"name": "sales", "ws_url": "wss://ai.example.com/ws"}


async def _campaign(http: httpx.AsyncClient, headers: dict[str, str],
                    **fields: Any) -> dict[str, Any]:
    response = await http.post(BASE, headers=headers, json=fields)
    assert response.status_code == 201, response.text
    campaign: dict[str, Any] = response.json()
    return campaign


async def test_create_defaults_and_full_round_trip(http: httpx.AsyncClient,
                                                   make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "voice_agents:write", "tenant:admin")
    bare = await _campaign(http, tk.headers)
    assert (bare["status"], bare["post_answer_action"], bare["voice_agent_id"]) == (
        "draft", "connect_voice_agent", None)
    assert bare["pacing"] == {"calls_per_second": 1.0, "max_concurrent_calls": 10}
    assert bare["retry"] == {"max_attempts": 3, "retry_after_s": 300,
                             "on": ["no_answer", "busy", "failed"]}
    assert bare["calling_window"] is None and bare["stats"]["total"] == 0
    agent = (await http.post("/api/v1/voice-agents", headers=tk.headers, json=AGENT)).json()
    trunk = (await http.post("/api/v1/sip-trunks", headers=tk.headers,
                             json={"name": "t", "host": "sip.example.com"})).json()
    window = {"timezone": "Europe/Paris", "start": "09:30", "end": "18:00",
              "days": ["mon", "tue"]}
    full = await _campaign(http, tk.headers, name="spring", voice_agent_id=agent["id"],
                           caller_id="+14155550100", trunk_id=trunk["id"],
                           pacing={"calls_per_second": 2.5, "max_concurrent_calls": 3},
                           calling_window=window,
                           retry={"max_attempts": 2, "retry_after_s": 60, "on": ["busy"]})
    assert full["calling_window"] == window and full["pacing"]["calls_per_second"] == 2.5
    url = f"{BASE}/{full['id']}"
    assert (await http.get(url, headers=tk.headers)).json() == full
    patched = (await http.patch(url, headers=tk.headers, json={
        "calling_window": None, "name": "summer", "pacing": {"max_concurrent_calls": 5}})).json()
    assert (patched["calling_window"], patched["name"], patched["pacing"]) == (
        None, "summer", {"calls_per_second": 1.0, "max_concurrent_calls": 5})
    assert [c["id"] for c in await walk(http, BASE, tk.headers, limit=1)] == [
        bare["id"], full["id"]]
    assert (await http.delete(url, headers=tk.headers)).status_code == 204
    assert_error(await http.get(url, headers=tk.headers), 404, "not_found")


@pytest.mark.parametrize("body", [
    {"pacing": {"calls_per_second": 0}}, {"pacing": {"max_concurrent_calls": "3"}},
    {"calling_window": {"start": "25:00"}}, {"calling_window": {"timezone": "Mars/Base"}},
    {"calling_window": {"start": "09:00", "end": "09:00"}},
    {"calling_window": {"days": ["mon", "mon"]}}, {"calling_window": {"days": []}},
    {"retry": {"on": ["voicemail"]}}, {"retry": {"max_attempts": 0}},
    {"post_answer_action": "hangup"}, {"caller_id": "alice"}, {"status": "running"},
])
async def test_invalid_campaigns_are_400(http: httpx.AsyncClient, make_tenant_key: Any,
                                         body: dict[str, Any]) -> None:
    tk = await make_tenant_key("campaigns:write")
    assert_error(await http.post(BASE, headers=tk.headers, json=body), 400, "validation_error")


async def test_references_to_nothing_of_the_tenant_are_404(http: httpx.AsyncClient,
                                                           make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write")
    other = await make_tenant_key("voice_agents:write", "tenant:admin")
    agent = (await http.post("/api/v1/voice-agents", headers=other.headers, json=AGENT)).json()
    trunk = (await http.post("/api/v1/sip-trunks", headers=other.headers,
                             json={"name": "t", "host": "sip.example.com"})).json()
    campaign = await _campaign(http, tk.headers)
    for field, value in (("voice_agent_id", agent["id"]), ("trunk_id", trunk["id"]),
                         ("voice_agent_id", "00000000-0000-4000-8000-000000000000")):
        for response in (await http.post(BASE, headers=tk.headers, json={field: value}),
                         await http.patch(f"{BASE}/{campaign['id']}", headers=tk.headers,
                                          json={field: value})):
            error = assert_error(response, 404, "not_found")
            assert error["details"][0]["loc"] == ["body", field]
    # Not a UUID at all: outside the field's documented pattern, so a 400 (as the schema says).
    response = await http.post(BASE, headers=tk.headers, json={"trunk_id": "not-a-uuid"})
    assert assert_error(response, 400, "validation_error")["details"][0]["loc"] == [
        "body", "trunk_id"]


async def test_state_machine(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write")
    campaign = await _campaign(http, tk.headers)
    url = f"{BASE}/{campaign['id']}"

    async def act(action: str) -> httpx.Response:
        return await http.post(f"{url}/{action}", headers=tk.headers)

    for action in ("pause", "resume"):
        error = assert_error(await act(action), 409, "conflict")
        assert "draft" in error["message"]
    started = (await act("start")).json()
    assert started["status"] == "running" and started["started_at"] is not None
    assert_error(await act("start"), 409, "conflict")
    assert_error(await act("resume"), 409, "conflict")
    assert_error(await http.delete(url, headers=tk.headers), 409, "conflict")
    assert (await act("pause")).json()["status"] == "paused"
    assert (await act("resume")).json()["status"] == "running"
    stopped = (await act("stop")).json()
    assert stopped["status"] == "stopped" and stopped["ended_at"] is not None
    for action in ("start", "pause", "resume", "stop"):
        assert_error(await act(action), 409, "conflict")
    assert_error(await http.post(f"{BASE}/{campaign['id']}/launch", headers=tk.headers),
                 404, "not_found")
    assert (await http.delete(url, headers=tk.headers)).status_code == 204


async def test_bulk_add_rejections_and_stats(http: httpx.AsyncClient,
                                             make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, tk.headers)
    leads_url = f"{BASE}/{campaign['id']}/leads"
    batch = [
        {"phone": "+14155550100", "name": "Ann", "custom_fields": {"plan": "gold", "n": 3}},
        {"phone": "4155550101"},                      # no '+'
        {"phone": "+04155550102"},                    # leading zero
        {"phone": "+1415555"},                        # 7 digits
        {"phone": "+1415555010012345"},               # 16 digits
        {"phone": "+14155550100"},                    # repeated in the request
        {"phone": "+14155550103", "timezone": "America/Chicago"},
        {"phone": "+14155550104", "timezone": "Nowhere/Land"},
        {"phone": "+44 20 7946 0000"},
    ]
    added = await http.post(leads_url, headers=tk.headers, json={"leads": batch})
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["created"] == 2
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, "bad_phone"), (2, "bad_phone"), (3, "bad_phone"), (4, "bad_phone"),
        (5, "duplicate"), (7, "bad_timezone"), (8, "bad_phone")]
    again = (await http.post(leads_url, headers=tk.headers, json={"leads": [
        {"phone": "+14155550103"}, {"phone": "+14155550105"}]})).json()
    assert again == {"created": 1, "rejected": [
        {"index": 0, "reason": "duplicate", "phone": "+14155550103"}]}
    stats = (await http.get(f"{BASE}/{campaign['id']}", headers=tk.headers)).json()["stats"]
    assert (stats["total"], stats["pending"], stats["completed"]) == (3, 3, 0)
    leads = await walk(http, leads_url, tk.headers, limit=2)
    assert sorted(lead["phone"] for lead in leads) == [
        "+14155550100", "+14155550103", "+14155550105"]
    ann = next(lead for lead in leads if lead["name"] == "Ann")
    assert ann["custom_fields"] == {"plan": "gold", "n": 3}
    assert (ann["status"], ann["status_set_by"], ann["attempts"]) == ("pending", "system", 0)
    for bad in ({"leads": [{"phone": 4155550100}]}, {"leads": [{"phone": "+14155550100",
                                                                "custom_fields": []}]},
                {"leads": [{"phone": "+14155550100", "extra": 1}]}, {"leads": "x"}):
        assert_error(await http.post(leads_url, headers=tk.headers, json=bad),
                     400, "validation_error")


async def test_lead_patch_and_status_filter(http: httpx.AsyncClient,
                                            make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, tk.headers)
    leads_url = f"{BASE}/{campaign['id']}/leads"
    await http.post(leads_url, headers=tk.headers, json={"leads": [
        {"phone": "+14155550100"}, {"phone": "+14155550101"}]})
    first, second = await walk(http, leads_url, tk.headers, limit=10)
    url = f"/api/v1/leads/{first['id']}"
    patched = await http.patch(url, headers=tk.headers, json={
        "status": "cancelled", "disposition": "asked not to call", "name": "Bo",
        "custom_fields": {"x": 1}, "timezone": "Asia/Tokyo"})
    assert patched.status_code == 200, patched.text
    lead = patched.json()
    assert (lead["status"], lead["status_set_by"], lead["disposition"], lead["name"],
            lead["custom_fields"], lead["timezone"]) == (
        "cancelled", "user", "asked not to call", "Bo", {"x": 1}, "Asia/Tokyo")
    assert (await http.get(url, headers=tk.headers)).json() == lead
    only = (await http.get(leads_url, headers=tk.headers,
                           params={"status": "cancelled"})).json()["data"]
    assert [x["id"] for x in only] == [first["id"]]
    stats = (await http.get(f"{BASE}/{campaign['id']}", headers=tk.headers)).json()["stats"]
    assert (stats["total"], stats["pending"], stats["cancelled"]) == (2, 1, 1)
    for body in ({"status": "dialing"}, {"status": "dnd_blocked"}, {"phone": "12345"},
                 {"attempts": 0}, {"timezone": "Nowhere/Land"}):
        assert_error(await http.patch(url, headers=tk.headers, json=body),
                     400, "validation_error")
    assert_error(await http.patch(url, headers=tk.headers, json={"phone": second["phone"]}),
                 409, "conflict")
    assert (await http.patch(url, headers=tk.headers,
                             json={"phone": "+14155550199"})).json()["phone"] == "+14155550199"
    requeued = (await http.patch(url, headers=tk.headers, json={"status": "pending"})).json()
    assert requeued["status"] == "pending" and requeued["next_attempt_at"] is not None
    assert_error(await http.get(leads_url, headers=tk.headers, params={"status": "nope"}),
                 400, "validation_error")


async def test_closed_campaigns_take_no_leads(http: httpx.AsyncClient,
                                              make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, tk.headers)
    await http.post(f"{BASE}/{campaign['id']}/stop", headers=tk.headers)
    assert_error(await http.post(f"{BASE}/{campaign['id']}/leads", headers=tk.headers,
                                 json={"leads": [{"phone": "+14155550100"}]}), 409, "conflict")


async def test_scopes_and_fence(http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    owner = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, owner.headers)
    await http.post(f"{BASE}/{campaign['id']}/leads", headers=owner.headers,
                    json={"leads": [{"phone": "+14155550100"}]})
    lead = (await http.get(f"{BASE}/{campaign['id']}/leads", headers=owner.headers)
            ).json()["data"][0]
    campaign_reader = await make_tenant_key("campaigns:read", tenant_id=owner.tenant_id)
    leads_only = await make_tenant_key("leads:write", tenant_id=owner.tenant_id)
    assert (await http.get(BASE, headers=campaign_reader.headers)).status_code == 200
    for response in (
            await http.post(BASE, headers=campaign_reader.headers, json={}),
            await http.post(f"{BASE}/{campaign['id']}/start", headers=campaign_reader.headers),
            await http.get(f"{BASE}/{campaign['id']}/leads", headers=campaign_reader.headers),
            await http.get(BASE, headers=leads_only.headers)):
        assert_error(response, 403, "permission_denied")
    assert (await http.get(f"/api/v1/leads/{lead['id']}",
                           headers=leads_only.headers)).status_code == 200
    stranger = await make_tenant_key("campaigns:write", "leads:write")
    for response in (
            await http.get(f"{BASE}/{campaign['id']}", headers=stranger.headers),
            await http.post(f"{BASE}/{campaign['id']}/start", headers=stranger.headers),
            await http.post(f"{BASE}/{campaign['id']}/leads", headers=stranger.headers,
                            json={"leads": [{"phone": "+14155550101"}]}),
            await http.get(f"{BASE}/{campaign['id']}/leads", headers=stranger.headers),
            await http.get(f"/api/v1/leads/{lead['id']}", headers=stranger.headers),
            await http.patch(f"/api/v1/leads/{lead['id']}", headers=stranger.headers,
                             json={"name": "x"})):
        assert_error(response, 404, "not_found")


async def test_voice_agent_in_use_by_campaign_cannot_be_deleted(
        http: httpx.AsyncClient, make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "voice_agents:write")
    agent = (await http.post("/api/v1/voice-agents", headers=tk.headers, json=AGENT)).json()
    campaign = await _campaign(http, tk.headers, voice_agent_id=agent["id"])
    error = assert_error(await http.delete(f"/api/v1/voice-agents/{agent['id']}",
                                           headers=tk.headers), 409, "conflict")
    assert campaign["id"] in error["message"]
    await http.patch(f"{BASE}/{campaign['id']}", headers=tk.headers,
                     json={"voice_agent_id": None})
    assert (await http.delete(f"/api/v1/voice-agents/{agent['id']}",
                              headers=tk.headers)).status_code == 204


async def test_concurrent_bulk_adds_never_duplicate(http: httpx.AsyncClient,
                                                    make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, tk.headers)
    url = f"{BASE}/{campaign['id']}/leads"
    batches = [[{"phone": f"+1415555{i:04d}"} for i in range(start, start + 300)]
               for start in (0, 100, 200, 0)]
    answers = await asyncio.gather(*(http.post(url, headers=tk.headers, json={"leads": b})
                                     for b in batches))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert sum(b["created"] for b in bodies) == 500  # numbers 0..499, each added once
    assert sum(len(b["rejected"]) for b in bodies) == 1200 - 500
    stats = (await http.get(f"{BASE}/{campaign['id']}", headers=tk.headers)).json()["stats"]
    assert stats["total"] == 500


async def test_a_lead_being_dialled_is_the_dialers(http: httpx.AsyncClient, db: Database,
                                                   make_tenant_key: Any) -> None:
    tk = await make_tenant_key("campaigns:write", "leads:write")
    campaign = await _campaign(http, tk.headers)
    await http.post(f"{BASE}/{campaign['id']}/leads", headers=tk.headers,
                    json={"leads": [{"phone": "+14155550100"}]})
    lead = (await http.get(f"{BASE}/{campaign['id']}/leads", headers=tk.headers)
            ).json()["data"][0]
    async with db.write() as session:  # what a dialer's claim does
        await session.execute(update(Lead).where(Lead.id == lead["id"]).values(
            status="dialing", claimed_by="node-1"))
    url = f"/api/v1/leads/{lead['id']}"
    assert_error(await http.patch(url, headers=tk.headers, json={"status": "cancelled"}),
                 409, "conflict")
    assert (await http.patch(url, headers=tk.headers, json={"name": "ok"})).status_code == 200
    stats = (await http.get(f"{BASE}/{campaign['id']}", headers=tk.headers)).json()["stats"]
    assert (stats["dialing"], stats["pending"]) == (1, 0)
    await http.post(f"{BASE}/{campaign['id']}/stop", headers=tk.headers)
    error = assert_error(await http.delete(f"{BASE}/{campaign['id']}", headers=tk.headers),
                         409, "conflict")
    assert "dialled" in error["message"]
