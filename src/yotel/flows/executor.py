"""The flow executor: runs a saved flow graph (PRODUCT.md §4) on an inbound live call.

    await FlowRun(service, live, FlowGraph.from_row(flow)).run()

It starts with 180 Ringing (PRODUCT.md §8: "180 while the flow starts; 200 when it answers")
and answers lazily: the first node that needs media (a prompt, DTMF, a transfer, the AI)
answers; a flow that only hangs up (closed hours) never does, and the caller gets 480.

Nodes, and the edge each one takes:
- `connect_voice_agent`: opens the agent's fork while the call still rings, then answers; the
  AI owns the call from there and the flow ends. If the agent cannot be had: the `failed`
  edge, else the call ends `ai_disconnected` (AI unreachable) or `failed` (its max_concurrent
  or subprotocol refused it).
- `play_audio`: fetches the URL under the SSRF rules (`YOTEL_ALLOW_INSECURE_URLS`) while the
  call still rings, answers, plays it to the end; `done`. A URL that cannot be fetched or
  decoded is skipped (logged) and the flow goes on along `done`: a broken prompt must not
  strand callers on their way to a person.
- `gather_dtmf`: digits (typed ahead during a prompt too) until `max_digits`, a complete
  pattern, `#`, or `timeout_s` without a digit (`flows.rules`); the matching pattern's edge,
  else `timeout` / `default`.
- `transfer`: the one transfer primitive (`calls.transfer`); the flow ends bridged, or takes
  `failed` when nobody answered (else the call ends `failed`).
- `time_condition`: `open` or `closed` by the node's time zone and hours.
- `hangup`: ends the call (`hangup`; 480 if it was never answered).

A node with no edge for its result ends the flow: the call is hung up, never left silent. A
flow may loop through a `gather_dtmf` (the caller drives it); after `MAX_STEPS` nodes it is
ended anyway.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from yotel.calls.live import LiveCall
from yotel.calls.service import CallService
from yotel.calls.transfer import transfer
from yotel.domain.errors import YotelError
from yotel.flows import rules
from yotel.flows.nodes import NodeType
from yotel.media.errors import CallEnded, ForkUnavailable, MediaError
from yotel.media.events import CallEvent, Outcome
from yotel.media.player import AudioFetchError, AudioPlayer, FetchLimits, load_audio
from yotel.voice_agents.resolve import resolve_voice_agent

log = logging.getLogger(__name__)
MAX_STEPS = 200
MAX_TYPE_AHEAD = 64  # digits kept for a gather (the AI gets them all, and the flow is over)
PLAY_SLACK_S = 5.0  # beyond a prompt's length before `play_finished` is given up on


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class FlowGraph:
    """A saved (so already validated) flow, indexed for running."""

    id: str
    entry: str
    nodes: Mapping[str, Node]
    edges: Mapping[tuple[str, str], str]  # (from, label) -> to

    @classmethod
    def build(cls, flow_id: str, entry: str, nodes: Sequence[Mapping[str, Any]],
              edges: Sequence[Mapping[str, Any]]) -> FlowGraph:
        by_id = {str(n["id"]): Node(str(n["id"]), str(n["type"]), n.get("data") or {})
                 for n in nodes}
        index: dict[tuple[str, str], str] = {}
        for edge in edges:
            source = str(edge["from"])
            on = edge.get("on")
            # As flows.graph reads it: an unlabelled edge out of play_audio is its `done`.
            label = str(on) if on is not None else (
                "done" if by_id[source].type == NodeType.PLAY_AUDIO else "")
            index[(source, label)] = str(edge["to"])
        return cls(flow_id, entry, by_id, index)

    def labels(self, node_id: str) -> set[str]:
        return {label for source, label in self.edges if source == node_id}


@dataclass(frozen=True)
class Step:
    """What a node did: the edge label to follow, or None when the flow is over; `outcome`
    and `reason` end the call when no edge carries the label."""

    label: str | None
    outcome: Outcome = "hangup"
    reason: str = "the flow ended"


DONE = Step(None)


class CallGone(Exception):  # noqa: N818 - reads as the condition
    """The caller hung up: the flow stops."""


class FlowRun:
    def __init__(self, service: CallService, live: LiveCall, flow: FlowGraph, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.service = service
        self.live = live
        self.call = live.media
        self.flow = flow
        self._clock = clock
        self._digits: collections.deque[str] = collections.deque(maxlen=MAX_TYPE_AHEAD)
        self._prompts_done = 0
        self._wake = asyncio.Event()
        self.visited: list[str] = []  # node ids in order (for logs and tests)
        self.call.subscribe(self._on_event)

    def _on_event(self, event: CallEvent) -> None:
        if event.kind == "dtmf":
            self._digits.append(str(event.data["digit"]))
        elif event.kind == "play_finished":
            self._prompts_done += 1
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Run the flow to its end; never raises (a failure ends the call `failed`)."""
        try:
            await self.call.ringing()
            await self._walk()
        except CallGone:
            return
        except Exception as exc:
            log.exception("flow %s failed on call %s", self.flow.id, self.live.id)
            await self.call.hangup("failed", reason=f"flow error: {exc}")

    async def _walk(self) -> None:
        node_id: str | None = self.flow.entry
        step = DONE
        while node_id is not None:
            if len(self.visited) >= MAX_STEPS:
                step = Step("", "failed", f"the flow ran {MAX_STEPS} nodes without ending")
                break
            self.visited.append(node_id)
            step = await self._run_node(self.flow.nodes[node_id])
            if step.label is None:
                return
            node_id = self.flow.edges.get((node_id, step.label))
        await self.call.hangup(step.outcome, reason=step.reason)

    async def _run_node(self, node: Node) -> Step:
        self._require_live()
        handlers = {
            NodeType.CONNECT_VOICE_AGENT: self._connect_voice_agent,
            NodeType.PLAY_AUDIO: self._play_audio,
            NodeType.GATHER_DTMF: self._gather_dtmf,
            NodeType.TRANSFER: self._transfer,
            NodeType.TIME_CONDITION: self._time_condition,
            NodeType.HANGUP: self._hangup,
        }
        if node.type not in (NodeType.GATHER_DTMF, NodeType.PLAY_AUDIO):
            self._digits.clear()  # type-ahead counts from a prompt into a gather, no further
        return await handlers[NodeType(node.type)](node)

    # -- nodes ------------------------------------------------------------------------------
    async def _connect_voice_agent(self, node: Node) -> Step:
        pin = _Pin(str(node.data["voice_agent_id"]))
        try:
            agent = await resolve_voice_agent(self.service.voice_agents,
                                              tenant_id=self.live.tenant_id, flow_node=pin)
            await self.service.connect_ai(self.live, agent)
        except CallEnded as exc:
            raise CallGone from exc
        except ForkUnavailable as exc:
            return Step("failed", "ai_disconnected", f"the voice agent is unreachable: {exc}")
        except (YotelError, MediaError) as exc:  # 424 subprotocol, 429 max_concurrent...
            return Step("failed", "failed", f"the voice agent refused the call: {exc}")
        await self._answer()
        return DONE  # the AI owns the call now

    async def _play_audio(self, node: Node) -> Step:
        limits = FetchLimits(allow_insecure=self.service.config.allow_insecure)
        try:
            pcm = await load_audio(str(node.data["audio_url"]), limits)
        except (AudioFetchError, ValueError) as exc:  # ValueError: UnsafeUrlError
            log.warning("call %s: flow %s node %s: prompt skipped: %s", self.live.id,
                        self.flow.id, node.id, exc)
            return Step("done")
        await self._answer()
        player = AudioPlayer(pcm)
        before = self._prompts_done
        self.call.play(player)
        await self._until(lambda: self._prompts_done > before,
                          player.duration_s + PLAY_SLACK_S)
        return Step("done")

    async def _gather_dtmf(self, node: Node) -> Step:
        await self._answer()
        labels = self.flow.labels(node.id)
        patterns = rules.digit_patterns(labels)
        max_digits, timeout_s = int(node.data.get("max_digits", 1)), \
            float(node.data.get("timeout_s", 5))
        digits = ""
        while not digits or not rules.complete(digits, patterns, max_digits):
            if not await self._until(lambda: bool(self._digits), timeout_s):
                break
            digit = self._digits.popleft()
            if rules.ends_input(digit, patterns):
                break
            digits += digit
        label = rules.choose_edge(digits, labels)
        if label is None:
            return Step("", "hangup", f"no edge for the digits {digits!r}")
        return Step(label)

    async def _transfer(self, node: Node) -> Step:
        await self._answer()
        try:
            await transfer(self.service, self.live, str(node.data["destination_type"]),
                           str(node.data["destination"]), {"flow_id": self.flow.id,
                                                           "node_id": node.id})
        except YotelError as exc:
            self._require_live()
            return Step("failed", "failed", f"transfer failed: {exc.message}")
        return DONE  # bridged: the two legs hang up together

    async def _time_condition(self, node: Node) -> Step:
        hours = cast(Sequence[Mapping[str, Any]], node.data["hours"])
        open_now = rules.is_open(self._clock(), str(node.data["timezone"]), hours)
        return Step("open" if open_now else "closed")

    async def _hangup(self, node: Node) -> Step:
        await self.call.hangup("hangup", reason=f"flow node {node.id}")
        return DONE

    # -- helpers ------------------------------------------------------------------------------
    async def _answer(self) -> None:
        await self.call.answer()
        self._require_live()

    def _require_live(self) -> None:
        if self.call.state == "ended":
            raise CallGone

    async def _until(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait for `ready()` (checked on each call event) up to `timeout_s`; CallGone when
        the call ends first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not ready():
            self._require_live()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return ready()
        return True


@dataclass(frozen=True)
class _Pin:
    voice_agent_id: str | None
