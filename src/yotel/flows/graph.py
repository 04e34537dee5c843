"""Flow graphs (PRODUCT.md §4): the rules a graph must pass before it is saved. Pure: no I/O;
what needs the database (does the voice agent / queue exist in the tenant?) is the service's.

A graph is `{"entry", "nodes": [{"id", "type", "data"}], "edges": [{"from", "to", "on"}]}`.
Each rule names the node at fault, so a 400 says where to look:

- node ids are unique, types are known, each type's `data` is complete and well formed;
- `entry` is a node; every edge starts and ends at a node (no dangling edge);
- an edge's `on` is one its source type emits, once per source: `gather_dtmf` a digit pattern,
  `timeout` or `default`; `time_condition` `open`/`closed` (both required); `play_audio` `done`;
  `connect_voice_agent` and `transfer` `failed` (when the AI or the far end cannot be reached);
  `hangup` nothing;
- every node is reachable from `entry`;
- every cycle passes through a `gather_dtmf` (else the call would loop without the caller).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from yotel.flows.nodes import NODE_DATA, NodeType

DIGITS = re.compile(r"[0-9*#]{1,32}")


@dataclass(frozen=True, slots=True)
class Issue:
    node_id: str | None
    message: str
    kind: str

    def detail(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "msg": self.message, "type": self.kind}


@dataclass(frozen=True, slots=True)
class Graph:
    entry: str
    nodes: Sequence[Mapping[str, Any]]
    edges: Sequence[Mapping[str, Any]]


def validate_graph(graph: Graph) -> list[Issue]:
    """Every issue found, structural first; an empty list means the graph may be saved."""
    issues = _nodes(graph.nodes)
    ids = {str(node["id"]) for node in graph.nodes}
    types = {str(n["id"]): str(n["type"]) for n in graph.nodes if n["type"] in NODE_DATA}
    if graph.entry not in ids:
        issues.append(Issue(None, f"entry {graph.entry!r} is not a node", "bad_entry"))
    issues += _edges(graph.edges, ids, types)
    if issues:
        return issues
    successors = _successors(graph.edges)
    issues += _required_edges(types, graph.edges)
    issues += _unreachable(graph.entry, [str(n["id"]) for n in graph.nodes], successors)
    cycle = _cycle_without_gather(types, successors)
    if cycle is not None:
        issues.append(Issue(cycle, f"node {cycle!r} is on a cycle with no gather_dtmf: the "
                            "call would loop without the caller", "cycle_without_gather"))
    return issues


def voice_agent_ids(nodes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """`{node id: voice_agent_id}` of the graph's connect_voice_agent nodes."""
    return {str(n["id"]): str(n["data"]["voice_agent_id"]) for n in nodes
            if n.get("type") == "connect_voice_agent"
            and isinstance(n.get("data"), Mapping) and "voice_agent_id" in n["data"]}


def queue_names(nodes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """`{node id: queue name}` of the graph's transfers to an agent queue."""
    return {str(n["id"]): str(n["data"]["destination"]) for n in nodes
            if n.get("type") == "transfer" and isinstance(n.get("data"), Mapping)
            and n["data"].get("destination_type") == "agent_queue"}


def _nodes(nodes: Sequence[Mapping[str, Any]]) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    for node in nodes:
        node_id, kind = str(node["id"]), node["type"]
        if node_id in seen:
            issues.append(Issue(node_id, f"node id {node_id!r} is used twice", "duplicate_node"))
        seen.add(node_id)
        model = NODE_DATA.get(kind)
        if model is None:
            known = ", ".join(sorted(NODE_DATA))
            issues.append(Issue(node_id, f"node {node_id!r} has unknown type {kind!r} "
                                f"(one of {known})", "unknown_node_type"))
            continue
        issues += _data_issues(node_id, kind, model, node.get("data") or {})
    return issues


def _data_issues(node_id: str, kind: str, model: type[pydantic.BaseModel],
                 data: Any) -> list[Issue]:
    try:
        model.model_validate(data)
    except pydantic.ValidationError as exc:
        return [Issue(node_id, f"node {node_id!r} ({kind}): "
                      f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}",
                      "missing_field" if e["type"] == "missing" else "bad_node_data")
                for e in exc.errors(include_input=False)]
    return []


def _edges(edges: Sequence[Mapping[str, Any]], ids: set[str],
           types: Mapping[str, str]) -> list[Issue]:
    issues: list[Issue] = []
    used: set[tuple[str, str]] = set()
    for edge in edges:
        source, target, on = str(edge["from"]), str(edge["to"]), edge.get("on")
        for end, role in ((source, "from"), (target, "to")):
            if end not in ids:
                issues.append(Issue(source if role == "to" and source in ids else end,
                                    f"edge {source!r} -> {target!r}: {role} node {end!r} does "
                                    "not exist", "dangling_edge"))
        if source not in types:
            continue
        label = _label(types[source], on)
        problem = _label_problem(types[source], label)
        if problem is not None:
            issues.append(Issue(source, f"node {source!r}: {problem}", "bad_edge"))
        elif (source, label) in used:
            issues.append(Issue(source, f"node {source!r} has two edges on {label!r}",
                                "duplicate_edge"))
        used.add((source, label))
    return issues


def _label(kind: str, on: Any) -> str:
    if on is None:
        return "done" if kind == NodeType.PLAY_AUDIO else ""
    return str(on)


_ALLOWED: dict[str, Callable[[str], bool]] = {
    NodeType.CONNECT_VOICE_AGENT: lambda on: on == "failed",
    NodeType.PLAY_AUDIO: lambda on: on == "done",
    NodeType.GATHER_DTMF: lambda on: on in ("timeout", "default") or bool(DIGITS.fullmatch(on)),
    NodeType.TRANSFER: lambda on: on == "failed",
    NodeType.TIME_CONDITION: lambda on: on in ("open", "closed"),
    NodeType.HANGUP: lambda on: False,
}


def _label_problem(kind: str, on: str) -> str | None:
    if _ALLOWED[kind](on):
        return None
    if kind == NodeType.HANGUP:
        return "a hangup node has no outgoing edges"
    return f"a {kind} node has no {on!r} edge (see the flow edge rules)"


def _successors(edges: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    successors: dict[str, list[str]] = {}
    for edge in edges:
        successors.setdefault(str(edge["from"]), []).append(str(edge["to"]))
    return successors


def _required_edges(types: Mapping[str, str],
                    edges: Sequence[Mapping[str, Any]]) -> list[Issue]:
    labels: dict[str, set[str]] = {}
    for edge in edges:
        source = str(edge["from"])
        labels.setdefault(source, set()).add(_label(types[source], edge.get("on")))
    issues: list[Issue] = []
    for node_id, kind in types.items():
        have = labels.get(node_id, set())
        if kind == NodeType.TIME_CONDITION and have != {"open", "closed"}:
            issues.append(Issue(node_id, f"node {node_id!r}: a time_condition needs an 'open' "
                                "and a 'closed' edge", "missing_edge"))
        if kind == NodeType.GATHER_DTMF and not have:
            issues.append(Issue(node_id, f"node {node_id!r}: a gather_dtmf needs at least one "
                                "edge", "missing_edge"))
    return issues


def _unreachable(entry: str, order: Sequence[str],
                 successors: Mapping[str, list[str]]) -> list[Issue]:
    reached = {entry}
    stack = [entry]
    while stack:
        for nxt in successors.get(stack.pop(), []):
            if nxt not in reached:
                reached.add(nxt)
                stack.append(nxt)
    return [Issue(node_id, f"node {node_id!r} is unreachable from entry {entry!r}",
                  "unreachable_node") for node_id in order if node_id not in reached]


def _cycle_without_gather(types: Mapping[str, str],
                          successors: Mapping[str, list[str]]) -> str | None:
    """A node on a cycle of the graph without its gather_dtmf nodes, or None (iterative
    three-colour depth-first search: a grey successor closes a cycle)."""
    live = {n for n, kind in types.items() if kind != NodeType.GATHER_DTMF}
    colour: dict[str, int] = {}
    for root in sorted(live):
        if colour.get(root):
            continue
        colour[root] = 1
        stack = [(root, iter(successors.get(root, [])))]
        while stack:
            node, children = stack[-1]
            child = next((c for c in children if c in live), None)
            if child is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(child) == 1:
                return child
            elif not colour.get(child):
                colour[child] = 1
                stack.append((child, iter(successors.get(child, []))))
    return None
