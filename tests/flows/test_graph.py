"""Flow graph rules (pure): each rule names the right node, valid graphs pass, and the cycle
check is exact (a loop through a gather is fine, any other loop is not)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.flows.graph import Graph, _cycle_without_gather, validate_graph

AGENT = "8a074953-e453-4eaa-8736-bffade1dc003"


def _node(node_id: str, kind: str = "play_audio", **data: Any) -> dict[str, Any]:
    if kind == "play_audio" and not data:
        data = {"audio_url": "https://cdn.example.com/a.wav"}
    return {"id": node_id, "type": kind, "data": data}


def _edge(source: str, target: str, on: str | None = None) -> dict[str, Any]:
    return {"from": source, "to": target, "on": on}


def test_a_loop_through_a_gather_is_valid() -> None:
    graph = Graph("menu", [_node("menu", "gather_dtmf"), _node("prompt"),
                           _node("ai", "connect_voice_agent", voice_agent_id=AGENT)],
                  [_edge("menu", "prompt", "timeout"), _edge("prompt", "menu"),
                   _edge("menu", "ai", "1")])
    assert validate_graph(graph) == []


def test_self_loop_without_gather_is_refused() -> None:
    graph = Graph("a", [_node("a"), _node("b", "hangup")], [_edge("a", "a")])
    kinds = {(i.node_id, i.kind) for i in validate_graph(graph)}
    assert ("a", "cycle_without_gather") in kinds and ("b", "unreachable_node") in kinds


def test_structural_issues_are_reported_together_and_first() -> None:
    graph = Graph("x", [_node("a"), _node("a", "hangup"), _node("c", "bogus")],
                  [_edge("a", "zz"), _edge("yy", "a")])
    kinds = [(i.node_id, i.kind) for i in validate_graph(graph)]
    # The later 'a' (a hangup) wins the id, so its outgoing edge is also a bad edge.
    assert kinds == [("a", "duplicate_node"), ("c", "unknown_node_type"), (None, "bad_entry"),
                     ("a", "dangling_edge"), ("a", "bad_edge"), ("yy", "dangling_edge")]


@pytest.mark.parametrize(("node", "edges", "kind"), [
    (_node("t", "time_condition", timezone="UTC",
           hours=[{"days": ["mon"], "start": "09:00", "end": "17:00"}]),
     [_edge("t", "h", "open")], "missing_edge"),
    (_node("t", "gather_dtmf"), [], "missing_edge"),
    (_node("t", "gather_dtmf"), [_edge("t", "h", "1"), _edge("t", "h", "1")], "duplicate_edge"),
    (_node("t", "gather_dtmf"), [_edge("t", "h", "one")], "bad_edge"),
    (_node("t", "connect_voice_agent", voice_agent_id=AGENT), [_edge("t", "h")], "bad_edge"),
    (_node("t", "transfer", destination_type="sip_uri", destination="pbx"), [], "bad_node_data"),
    (_node("t", "time_condition", timezone="Mars/Base", hours=[]), [], "bad_node_data"),
    (_node("t", "gather_dtmf", max_digits=0), [_edge("t", "h", "1")], "bad_node_data"),
])
def test_node_rules(node: dict[str, Any], edges: list[dict[str, Any]], kind: str) -> None:
    graph = Graph("t", [node, _node("h", "hangup")], edges)
    issues = validate_graph(graph)
    assert issues and issues[0].node_id == "t" and issues[0].kind == kind, issues


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=14),
       st.sets(st.integers(0, 5)))
def test_cycle_check_matches_brute_force(pairs: list[tuple[int, int]], gathers: set[int]) -> None:
    # The cycle rule alone (the edge-label rules would refuse most random multigraphs first).
    types = {str(i): "gather_dtmf" if i in gathers else "play_audio" for i in range(6)}
    successors: dict[str, list[str]] = {}
    for a, b in pairs:
        successors.setdefault(str(a), []).append(str(b))
    found = _cycle_without_gather(types, successors)
    reach = _gatherless_paths(pairs, gathers)
    assert (found is not None) == any(a == b for a, b in reach)
    if found is not None:  # the named node is itself on such a cycle
        assert (int(found), int(found)) in reach


def _gatherless_paths(pairs: list[tuple[int, int]], gathers: set[int]) -> set[tuple[int, int]]:
    """(a, b) such that a path a -> ... -> b avoids every gather (transitive closure)."""
    step = {(a, b) for a, b in pairs if a not in gathers and b not in gathers}
    reach = set(step)
    while True:
        more = {(a, d) for a, b in reach for c, d in step if b == c} - reach
        if not more:
            return reach
        reach |= more
