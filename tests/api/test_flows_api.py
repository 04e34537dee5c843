"""Acceptance: flows over real HTTP. Valid graphs of every node type are saved; each kind of
invalid graph is refused with 400 naming the node; references are fenced to the tenant."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .envelope import assert_error, walk

BASE = "/api/v1/flows"
AGENT = {"name": "sales", "ws_url": "wss://ai.example.com/ws"}


def _ivr(agent_id: str) -> dict[str, Any]:
    return {
        "name": "main line", "entry": "hours",
        "nodes": [
            {"id": "hours", "type": "time_condition", "data": {
                "timezone": "America/New_York",
                "hours": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                           "end": "17:00"}]}},
            {"id": "closed", "type": "play_audio",
             "data": {"audio_url": "https://cdn.example.com/closed.wav"}},
            {"id": "menu", "type": "gather_dtmf", "data": {"max_digits": 1, "timeout_s": 5}},
            {"id": "ai", "type": "connect_voice_agent", "data": {"voice_agent_id": agent_id}},
            {"id": "desk", "type": "transfer",
             "data": {"destination_type": "sip_uri", "destination": "sip:desk@pbx.example.com"}},
            {"id": "bye", "type": "hangup"},
        ],
        "edges": [
            {"from": "hours", "to": "menu", "on": "open"},
            {"from": "hours", "to": "closed", "on": "closed"},
            {"from": "closed", "to": "bye"},
            {"from": "menu", "to": "ai", "on": "1"},
            {"from": "menu", "to": "desk", "on": "0"},
            {"from": "menu", "to": "menu", "on": "timeout"},
            {"from": "ai", "to": "desk", "on": "failed"},
            {"from": "desk", "to": "bye", "on": "failed"},
        ],
    }


@pytest.fixture
async def tenant(http: httpx.AsyncClient, make_tenant_key: Any) -> tuple[Any, str]:
    tk = await make_tenant_key("flows:write", "voice_agents:write", "numbers:write",
                               "tenant:admin")
    agent = (await http.post("/api/v1/voice-agents", headers=tk.headers, json=AGENT)).json()
    return tk, agent["id"]


async def test_valid_flow_round_trip(http: httpx.AsyncClient, tenant: tuple[Any, str]) -> None:
    tk, agent_id = tenant
    created = await http.post(BASE, headers=tk.headers, json=_ivr(agent_id))
    assert created.status_code == 201, created.text
    flow = created.json()
    assert flow["entry"] == "hours" and len(flow["nodes"]) == 6
    assert {"from": "menu", "to": "ai", "on": "1"} in flow["edges"]
    url = f"{BASE}/{flow['id']}"
    assert (await http.get(url, headers=tk.headers)).json() == flow
    renamed = (await http.patch(url, headers=tk.headers, json={"name": "renamed"})).json()
    assert renamed["name"] == "renamed" and renamed["nodes"] == flow["nodes"]
    assert [f["id"] for f in await walk(http, BASE, tk.headers, limit=5)] == [flow["id"]]
    assert (await http.delete(url, headers=tk.headers)).status_code == 204


def _break(agent_id: str, change: str) -> dict[str, Any]:
    flow = _ivr(agent_id)
    nodes, edges = flow["nodes"], flow["edges"]
    if change == "unknown type":
        nodes[5]["type"] = "voicemail"
    elif change == "dangling edge":
        edges.append({"from": "menu", "to": "nowhere", "on": "9"})
    elif change == "unreachable":
        nodes.append({"id": "orphan", "type": "hangup"})
    elif change == "missing agent":
        nodes[3]["data"] = {}
    elif change == "bad entry":
        flow["entry"] = "start"
    elif change == "duplicate id":
        nodes.append({"id": "bye", "type": "hangup"})
    elif change == "cycle":  # closed -> bye replaced by a loop of two play_audio nodes
        nodes.append({"id": "again", "type": "play_audio",
                      "data": {"audio_url": "https://cdn.example.com/a.wav"}})
        edges[2] = {"from": "closed", "to": "again"}
        edges.append({"from": "again", "to": "closed"})
    elif change == "edge from hangup":
        edges.append({"from": "bye", "to": "menu"})
    elif change == "bad gather label":
        edges.append({"from": "menu", "to": "bye", "on": "yes"})
    elif change == "missing closed":
        del edges[1]
    elif change == "bad transfer":
        nodes[4]["data"] = {"destination_type": "e164", "destination": "12345"}
    elif change == "insecure audio":
        nodes[1]["data"] = {"audio_url": "http://cdn.example.com/closed.wav"}
    return flow


@pytest.mark.parametrize(("change", "node", "kind"), [
    ("unknown type", "bye", "unknown_node_type"), ("dangling edge", "menu", "dangling_edge"),
    ("unreachable", "orphan", "unreachable_node"), ("missing agent", "ai", "missing_field"),
    ("bad entry", None, "bad_entry"), ("duplicate id", "bye", "duplicate_node"),
    ("cycle", "again", "cycle_without_gather"), ("edge from hangup", "bye", "bad_edge"),
    ("bad gather label", "menu", "bad_edge"), ("missing closed", "hours", "missing_edge"),
    ("bad transfer", "desk", "bad_node_data"), ("insecure audio", "closed", "url"),
])
async def test_invalid_graphs_are_400_naming_the_node(
        http: httpx.AsyncClient, tenant: tuple[Any, str], change: str, node: str | None,
        kind: str) -> None:
    tk, agent_id = tenant
    error = assert_error(await http.post(BASE, headers=tk.headers, json=_break(agent_id, change)),
                         400, "validation_error")
    # The node is named in `details` (the message may have the request's own strings masked
    # by the error layer, which never echoes input).
    assert (error["details"][0]["node_id"], error["details"][0]["type"]) == (node, kind), error
    assert error["details"][0]["loc"] == ["body"] and error["details"][0]["msg"]


async def test_references_are_fenced_and_protected(http: httpx.AsyncClient,
                                                   tenant: tuple[Any, str],
                                                   make_tenant_key: Any) -> None:
    tk, agent_id = tenant
    other = await make_tenant_key("voice_agents:write")
    foreign = (await http.post("/api/v1/voice-agents", headers=other.headers, json=AGENT)).json()
    error = assert_error(await http.post(BASE, headers=tk.headers, json=_ivr(foreign["id"])),
                         400, "validation_error")
    assert error["details"][0]["node_id"] == "ai" and "'ai'" in error["message"]
    queued = _ivr(agent_id)
    queued["nodes"][4]["data"] = {"destination_type": "agent_queue", "destination": "support"}
    error = assert_error(await http.post(BASE, headers=tk.headers, json=queued),
                         400, "validation_error")
    assert error["details"][0]["type"] == "unknown_agent_queue"
    queue = (await http.post("/api/v1/agent-queues", headers=tk.headers,
                             json={"name": "support"})).json()
    flow = (await http.post(BASE, headers=tk.headers, json=queued)).json()
    assert "id" in flow, flow
    assert_error(await http.delete(f"/api/v1/agent-queues/{queue['id']}", headers=tk.headers),
                 409, "conflict")
    error = assert_error(await http.delete(f"/api/v1/voice-agents/{agent_id}",
                                           headers=tk.headers), 409, "conflict")
    assert flow["id"] in error["message"]
    number = (await http.post("/api/v1/numbers", headers=tk.headers,
                              json={"e164": "+14155550111", "flow_id": flow["id"]})).json()
    error = assert_error(await http.delete(f"{BASE}/{flow['id']}", headers=tk.headers),
                         409, "conflict")
    assert "+14155550111" in error["message"]
    await http.patch(f"/api/v1/numbers/{number['id']}", headers=tk.headers,
                     json={"flow_id": None})
    assert (await http.delete(f"{BASE}/{flow['id']}", headers=tk.headers)).status_code == 204
    assert (await http.delete(f"/api/v1/voice-agents/{agent_id}",
                              headers=tk.headers)).status_code == 204


async def test_patch_revalidates_and_scopes(http: httpx.AsyncClient, tenant: tuple[Any, str],
                                            make_tenant_key: Any) -> None:
    tk, agent_id = tenant
    flow = (await http.post(BASE, headers=tk.headers, json=_ivr(agent_id))).json()
    url = f"{BASE}/{flow['id']}"
    error = assert_error(await http.patch(url, headers=tk.headers, json={"entry": "nope"}),
                         400, "validation_error")
    assert error["details"][0]["type"] == "bad_entry"
    reader = await make_tenant_key("flows:read", tenant_id=tk.tenant_id)
    assert (await http.get(url, headers=reader.headers)).status_code == 200
    assert_error(await http.delete(url, headers=reader.headers), 403, "permission_denied")
    stranger = await make_tenant_key("flows:write")
    assert_error(await http.get(url, headers=stranger.headers), 404, "not_found")
