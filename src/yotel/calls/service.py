"""The call layer's one entry point: place a call (`originate`), take a call (`inbound`), find
a live call (`directory`). It joins the database, the counters and the media engine; above it,
the REST API, the dialer and the flow executor use it, never the engine directly.

Before any SIP is sent an outbound call resolves its voice agent (page 000's hierarchy, 424),
checks the agent's subprotocol against this node's (424), picks a trunk, and takes a lease on
the agent's `max_concurrent` (429). Then its row and `call.started` are written, a callback
token is minted for the AI's metadata frame, and the INVITE goes out; the fork opens at ringing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from yotel.calls.history import CallHistory
from yotel.calls.live import CallContext, LeadContext, LiveCall
from yotel.calls.tokens import CallbackTokens, MintedToken, lifetime_for
from yotel.calls.writer import HistoryWriter
from yotel.db.engine import Database
from yotel.db.models import Call as CallRow
from yotel.domain.audio import as_encoding
from yotel.domain.errors import Conflict, MaxConcurrent, ValidationError
from yotel.domain.ids import new_id
from yotel.fork.client import ForkConfig
from yotel.media.call import Call, CallEnd, CallEvent, ForkSpec
from yotel.media.engine import MediaEngine, Trunk
from yotel.media.errors import MediaError
from yotel.voice_agents.resolve import check_subprotocol, resolve_voice_agent
from yotel.voice_agents.service import VoiceAgentRecord, VoiceAgentService
from yotel.voice_agents.slots import DEFAULT_LEASE_TTL_S, AgentSlots

log = logging.getLogger(__name__)


class LegNotAnswered(Conflict):
    """A leg `dial_leg` placed was not answered: `outcome` is no_answer, busy or failed. The
    envelope's type stays the documented 409 `conflict` (PRODUCT.md §3)."""

    def __init__(self, message: str, *, outcome: str, sip_status: int | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.sip_status = sip_status


class CallDirectory(Protocol):
    """Where a verb finds a live call. Local today; routing a verb to the node that owns the
    call (PRODUCT.md §9) is another implementation of this, and the verbs do not change."""

    def get(self, call_id: str) -> LiveCall | None: ...


class LocalDirectory:
    def __init__(self) -> None:
        self.calls: dict[str, LiveCall] = {}

    def get(self, call_id: str) -> LiveCall | None:
        return self.calls.get(call_id)

    def add(self, live: LiveCall) -> None:
        self.calls[live.id] = live
        live.on_ended(lambda call, _end: self._forget(call.id))

    def _forget(self, call_id: str) -> None:
        self.calls.pop(call_id, None)


class TrunkSource(Protocol):
    """How the call layer reads a tenant's trunk (with its password) and default trunk."""

    async def trunk_for(self, tenant_id: str, trunk_id: str | None) -> Trunk | None: ...


@dataclass(frozen=True)
class CallConfig:
    node_id: str
    public_url: str
    recordings_dir: Path
    allow_insecure: bool = False
    token_refresh_s: float = 25 * 60.0  # PRODUCT.md §6.6; shrunk by tests
    lease_ttl_s: float = DEFAULT_LEASE_TTL_S


@dataclass(frozen=True)
class Originate:
    """What `POST /calls` (or the dialer) asks for."""

    to: str
    voice_agent_id: str | None = None
    caller_id: str | None = None
    trunk_id: str | None = None
    lead: LeadContext | None = None
    campaign_id: str | None = None
    campaign_agent_id: str | None = None  # the campaign's pin, below an explicit one


@dataclass(frozen=True)
class Resolved:
    """A call's voice agent and trunk, looked up before any SIP is sent."""

    agent: VoiceAgentRecord
    trunk: Trunk | None
    to_uri: bool = False  # resolved for a SIP URI destination (no trunk)


@dataclass(frozen=True)
class _Pin:
    voice_agent_id: str | None


class CallService:
    def __init__(self, *, db: Database, engine: MediaEngine, voice_agents: VoiceAgentService,
                 trunks: TrunkSource, slots: AgentSlots, config: CallConfig) -> None:
        self.db = db
        self.engine = engine
        self.voice_agents = voice_agents
        self.trunks = trunks
        self.slots = slots
        self.writer = HistoryWriter(db)  # group commit of every live call's rows and events
        self.tokens = CallbackTokens(db, self.writer)
        self.config = config
        self.directory = LocalDirectory()

    # -- outbound ----------------------------------------------------------------------------
    async def resolve(self, tenant_id: str, request: Originate) -> Resolved:
        """What `originate` looks up before any SIP: the voice agent (page 000's hierarchy,
        424 with none or a subprotocol this node does not offer) and the trunk (for a number,
        ValidationError with none). The dialer resolves once for many of a campaign's calls."""
        agent = await resolve_voice_agent(
            self.voice_agents, tenant_id=tenant_id, flow_node=_Pin(request.voice_agent_id),
            campaign=_Pin(request.campaign_agent_id))
        check_subprotocol(agent, self.engine.config.audio_fork_subprotocols)
        trunk = await self._trunk(tenant_id, request)
        return Resolved(agent, trunk, to_uri=_is_uri(request.to))

    async def originate(self, tenant_id: str, request: Originate, *,
                        resolved: Resolved | None = None) -> LiveCall:
        """Place one call now; raises the documented errors before any SIP is sent.
        `resolved`: what `resolve` returned for a request with the same agent pins, trunk and
        kind of destination (number or SIP URI), reused instead of looked up again."""
        if resolved is None or resolved.to_uri != _is_uri(request.to):
            resolved = await self.resolve(tenant_id, request)
        agent, trunk = resolved.agent, resolved.trunk
        call_id = new_id()
        if not await self.slots.acquire(agent.id, call_id, agent.max_concurrent,
                                        self.config.lease_ttl_s):
            raise MaxConcurrent(f"voice agent {agent.id} is at its max_concurrent "
                                f"({agent.max_concurrent})", retry_after_s=1.0)
        try:
            return await self._place(tenant_id, call_id, agent, trunk, request)
        except BaseException:
            await self.slots.release(agent.id, call_id)
            raise

    async def _place(self, tenant_id: str, call_id: str, agent: VoiceAgentRecord,
                     trunk: Trunk | None, request: Originate) -> LiveCall:
        caller_id = request.caller_id or (trunk.caller_id if trunk else None) or "yotel"
        context = CallContext(tenant_id, "outbound", caller_id, request.to,
                              campaign_id=request.campaign_id, lead=request.lead,
                              trunk_id=request.trunk_id)
        history = self._history(call_id, tenant_id)
        minted, store_token = self.tokens.prepare(
            call_id=call_id, tenant_id=tenant_id, lifetime=lifetime_for(agent.token_lifetime))
        await history.started(self._row(call_id, context, agent), extra={}, also=store_token)
        spec = self._fork_spec(call_id, context, agent, minted)
        try:
            media = await self.engine.originate(
                _dial_string(request.to), caller_id=_digits(caller_id), trunk=trunk,
                encoding=as_encoding(agent.audio.encoding), fork=spec, call_id=call_id)
        except (MediaError, ValueError, OSError) as exc:
            await history.ended(outcome="failed", sip_status=None, error=str(exc),
                                duration_s=0.0)
            raise
        live = self._own(media, context, history)
        live.hold_slot(agent.id)
        self._session_tokens(live, agent)
        media.subscribe(lambda event: self._record_when_answered(media, event, tenant_id))
        return live

    def _record_when_answered(self, media: Call, event: CallEvent, tenant_id: str) -> None:
        # Every AI call records in stereo (page 000: L = caller, R = AI), from the answer.
        if event.kind == "answered":
            media.start_recording(self.recording_path(tenant_id, media.id))

    def recording_path(self, tenant_id: str, call_id: str) -> Path:
        return self.config.recordings_dir / tenant_id / f"{call_id}.wav"

    def _row(self, call_id: str, context: CallContext, agent: VoiceAgentRecord | None
             ) -> CallRow:
        return CallRow(id=call_id, tenant_id=context.tenant_id, direction=context.direction,
                       from_=context.from_, to=context.to, state="initiated",
                       campaign_id=context.campaign_id,
                       lead_id=context.lead.id if context.lead else None,
                       voice_agent_id=agent.id if agent else None, flow_id=context.flow_id,
                       number_id=context.number_id, trunk_id=context.trunk_id,
                       node_id=self.config.node_id)

    def _own(self, media: Call, context: CallContext, history: CallHistory) -> LiveCall:
        live = LiveCall(media, context, history, self.slots,
                        recording_url=self.recording_url(media.id))
        self.directory.add(live)
        live.start()
        return live

    def recording_url(self, call_id: str) -> str:
        return f"{self.config.public_url.rstrip('/')}/api/v1/calls/{call_id}/recording"

    async def _trunk(self, tenant_id: str, request: Originate) -> Trunk | None:
        if _is_uri(request.to):
            return None  # a SIP URI goes where it says
        trunk = await self.trunks.trunk_for(tenant_id, request.trunk_id)
        if trunk is None and self.engine.config.default_trunk is None:
            raise ValidationError(
                "no SIP trunk to dial a number through: pass trunk_id, set the tenant's "
                "default_trunk_id, or configure YOTEL_OUTBOUND_TRUNK")
        return trunk

    async def dial_leg(self, tenant_id: str, to: str, *, trunk_id: str | None = None,
                       caller_id: str | None = None, timeout_s: float = 30.0) -> Call:
        """A leg with no AI and no call row (a transfer's far end): `to` is an E.164 number,
        dialled through the tenant's trunk as `originate` picks it, or a SIP URI as it is.
        Returns the media call once answered; LegNotAnswered (with the outcome) when it is not
        within `timeout_s`. Cancelled while ringing, it CANCELs the INVITE (an answer that
        crossed the CANCEL gets a BYE), so the caller of this never owns a stray leg."""
        trunk = await self._trunk(tenant_id, Originate(to=to, trunk_id=trunk_id))
        chosen = caller_id or (trunk.caller_id if trunk else None) or "yotel"
        # A task, so a cancel while the INVITE is being placed (a DNS look-up of the trunk)
        # still gets the leg back to hang it up: the engine does not undo a half-placed call.
        placing = asyncio.ensure_future(self.engine.originate(
            _dial_string(to), caller_id=_digits(chosen), trunk=trunk,
            answer_timeout_s=timeout_s))
        try:
            leg = await asyncio.shield(placing)
        except asyncio.CancelledError:
            placing.add_done_callback(_hang_up_placed)
            raise
        except (MediaError, ValueError, OSError) as exc:
            raise LegNotAnswered(f"{to}: {exc}", outcome="failed") from exc
        try:
            await leg.answered.wait()  # also set when the leg ends unanswered
        except BaseException:
            await asyncio.shield(leg.hangup("hangup", reason="not needed any more"))
            raise
        if leg.state != "answered":
            end = leg.end or CallEnd("failed")
            raise LegNotAnswered(f"{to}: {end.outcome} ({end.sip_status or end.reason})",
                                 outcome=end.outcome, sip_status=end.sip_status)
        return leg

    # -- inbound -----------------------------------------------------------------------------
    async def take_inbound(self, media: Call, context: CallContext) -> LiveCall:
        """Own an inbound call the engine admitted (its flow runs next): its row and
        `call.started` are written first."""
        history = self._history(media.id, context.tenant_id)
        await history.started(self._row(media.id, context, None), extra={})
        return self._own(media, context, history)

    async def connect_ai(self, live: LiveCall, agent: VoiceAgentRecord) -> None:
        """`connect_voice_agent` on a live call: the agent's subprotocol (424) and
        max_concurrent (429) are checked, a token minted, the fork opened (ForkUnavailable if
        the AI cannot be had), and the call recorded in stereo from now on."""
        check_subprotocol(agent, self.engine.config.audio_fork_subprotocols)
        if not await self.slots.acquire(agent.id, live.id, agent.max_concurrent,
                                        self.config.lease_ttl_s):
            raise MaxConcurrent(f"voice agent {agent.id} is at its max_concurrent "
                                f"({agent.max_concurrent})", retry_after_s=1.0)
        live.hold_slot(agent.id)
        self._session_tokens(live, agent)
        try:
            await live.history.note(voice_agent_id=agent.id)
            minted = await self.tokens.mint(call_id=live.id, tenant_id=live.tenant_id,
                                            lifetime=lifetime_for(agent.token_lifetime))
            spec = self._fork_spec(live.id, live.context, agent, minted)
            await live.media.attach_fork(spec.config, spec.metadata, mint_token=spec.mint_token)
        except BaseException:
            await live.drop_slot()  # the AI never came: a flow may go on to a human
            raise
        live.media.start_recording(self.recording_path(live.tenant_id, live.id))

    # -- the AI --------------------------------------------------------------------------------
    def _session_tokens(self, live: LiveCall, agent: VoiceAgentRecord) -> None:
        if agent.token_lifetime == "ws_session":
            live.revoke_tokens_on_close(lambda: self.tokens.revoke_for_call(live.id))

    def _history(self, call_id: str, tenant_id: str) -> CallHistory:
        return CallHistory(self.db, call_id=call_id, tenant_id=tenant_id, writer=self.writer)

    def _fork_spec(self, call_id: str, context: CallContext, agent: VoiceAgentRecord,
                   minted: MintedToken) -> ForkSpec:
        lifetime = lifetime_for(agent.token_lifetime)

        async def mint() -> tuple[str, str]:
            fresh = await self.tokens.mint(call_id=call_id, tenant_id=context.tenant_id,
                                           lifetime=lifetime)
            return fresh.token, fresh.expires_at_iso

        refreshing = agent.token_lifetime != "ws_session"
        config = self.fork_config(agent, refresh=refreshing)
        metadata = self.metadata(call_id, context, agent) | {
            "yotel_callback_token": minted.token, "token_expires_at": minted.expires_at_iso}
        return ForkSpec(config, metadata, mint if refreshing else None)

    def fork_config(self, agent: VoiceAgentRecord, *, refresh: bool) -> ForkConfig:
        token: SecretStr | None = self.voice_agents.open_auth_token(agent)
        config = ForkConfig(url=agent.ws_url, subprotocol=agent.subprotocol,
                            auth_token=token.get_secret_value() if token else None,
                            encoding=agent.audio.encoding,
                            allow_insecure=self.config.allow_insecure)
        return replace(config, token_refresh_s=self.config.token_refresh_s if refresh else None)

    def metadata(self, call_id: str, context: CallContext,
                 agent: VoiceAgentRecord) -> dict[str, Any]:
        """PRODUCT.md §6.2, less the token (added by the caller)."""
        return {
            "call_id": call_id, "tenant_id": context.tenant_id, "voice_agent_id": agent.id,
            "direction": context.direction, "from": context.from_, "to": context.to,
            "campaign_id": context.campaign_id, "flow_id": context.flow_id,
            "lead": context.lead.as_metadata() if context.lead else None,
            "audio": {"encoding": agent.audio.encoding, "sample_rate": 8000, "channels": 1,
                      "frame_ms": 20},
            "control_url": (f"{self.config.public_url.rstrip('/')}/api/v1/ai-sessions/"
                            f"{call_id}/control"),
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.writer.start()

    async def close(self) -> None:
        """After the engine has ended every call: let each owner finish writing."""
        lives = list(self.directory.calls.values())
        await asyncio.gather(*(live.close() for live in lives), return_exceptions=True)
        await self.writer.close()


def _hang_up_placed(placing: asyncio.Future[Call]) -> None:
    """`dial_leg` was cancelled while its INVITE was being placed: end the leg once placed."""
    if placing.cancelled() or placing.exception() is not None:
        return
    leg = placing.result()
    with contextlib.suppress(RuntimeError):  # ScopeClosed: it is ending anyway
        leg.scope.spawn(leg.hangup("hangup", reason="not needed any more"), name="abandon")


def _is_uri(to: str) -> bool:
    return to.startswith(("sip:", "sips:"))


def _dial_string(to: str) -> str:
    """PRODUCT.md §8: `INVITE sip:<digits>@<trunk>` for a number; a SIP URI as it is."""
    return to if _is_uri(to) else _digits(to)


def _digits(number: str) -> str:
    return number[1:] if number.startswith("+") else number

