"""Page 003 group 2 on live calls, through the media engine's conferencing, whispers and taps:
conference_start/add/remove/leave, whisper, barge, monitor_start/stop. (`request_supervisor`
is `escalate.py`.)

A call's "agent leg" (the ear a whisper reaches) is, in order: the human bridged in by a
transfer, a conference member dialled as `agent` or `supervisor`, else the call's own party.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from yotel.calls.errors import media_errors
from yotel.calls.live import LiveCall, monitor_key
from yotel.calls.service import LegNotAnswered
from yotel.control import bodies as b
from yotel.control.verbs import Handler, VerbContext, fetch_audio
from yotel.db.models import Agent
from yotel.domain.bodies import unknown_reference
from yotel.domain.errors import Conflict, NotFound, PermissionDenied, Unprocessable
from yotel.domain.phone import check_e164
from yotel.flows.nodes import check_sip_uri
from yotel.media.call import Call
from yotel.media.player import AudioPlayer
from yotel.media.routing import Tee
from yotel.media.taps import ForkPlayoutSource

WHISPER_KEY = "whisper:"
BARGE_KEY = "barge:"


# -- conferences --------------------------------------------------------------------------
async def conference_start(ctx: VerbContext, _verb: b.ConferenceStart) -> dict[str, Any]:
    live = ctx.require_live()
    with media_errors():
        conference = live.media.start_conference()
    return {"conference_id": conference.id,
            "participants": live.media.conference_participants()}


async def conference_add(ctx: VerbContext, verb: b.ConferenceAdd) -> dict[str, Any]:
    live = ctx.require_live()
    if live.media.conference is None:
        raise Conflict("no conference on this call: conference_start first")
    to = await _participant_address(ctx, verb.participant_type, verb.destination)
    assert ctx.calls is not None
    try:
        leg = await ctx.calls.dial_leg(ctx.call.tenant_id, to)
    except LegNotAnswered as exc:
        raise Conflict(f"the participant did not answer: {exc.outcome}") from exc
    live.own_leg(leg)
    with media_errors():
        member = live.media.add_member(leg, kind=verb.participant_type,
                                       destination=verb.destination)
    return {"conference_id": live.media.conference_id(), "member_id": member.id}


async def conference_remove(ctx: VerbContext, verb: b.ConferenceRemove) -> dict[str, Any]:
    live = ctx.require_live()
    with media_errors():
        leg = live.media.remove_member(verb.member_id)
    await leg.hangup("hangup", reason="removed from the conference")
    return {"conference_id": live.media.conference_id(), "member_id": verb.member_id}


async def conference_leave(ctx: VerbContext, _verb: b.ConferenceLeave) -> dict[str, Any]:
    live = ctx.require_live()
    conference_id = live.media.conference_id()
    with media_errors():
        await live.media.leave_conference()
    return {"conference_id": conference_id}


async def _participant_address(ctx: VerbContext, kind: str, destination: str) -> str:
    if kind == "e164":
        return check_e164(destination, field="destination")
    if kind == "sip_uri":
        try:
            return check_sip_uri(destination)
        except ValueError as exc:
            raise Unprocessable(f"destination: {exc}") from exc
    async with ctx.db.read() as session:  # agent | supervisor: the agent's contact
        agent = await session.scalar(select(Agent).where(
            Agent.id == destination, Agent.tenant_id == ctx.call.tenant_id))
    if agent is None or (kind == "supervisor" and agent.role != "supervisor"):
        raise unknown_reference("destination", kind)
    if not agent.on_duty:
        raise Conflict(f"{kind} {destination} is not on duty")
    return agent.contact


# -- whisper, barge, monitor ------------------------------------------------------------------
async def whisper(ctx: VerbContext, verb: b.Whisper) -> dict[str, Any]:
    live = ctx.require_live()
    if verb.audio_url is None:
        raise Unprocessable("tts_text is not supported in v1: send audio_url")
    target = _related(ctx, live, verb.target_call_id)
    player = AudioPlayer(await fetch_audio(ctx, verb.audio_url, "audio_url"))
    with media_errors():
        agent_leg(target).whisper(player, key=f"{WHISPER_KEY}{live.id}")
    return {"target_call_id": target.id, "duration_ms": round(player.duration_s * 1000)}


async def barge(ctx: VerbContext, verb: b.Barge) -> dict[str, Any]:
    """From monitor-only to a full participant: what the AI says on its monitor stream is
    heard by both sides of the target (a whisper to the agent leg stops being one)."""
    live = ctx.require_live()
    target = live.monitoring.get(verb.target_call_id)
    if target is None:
        raise PermissionDenied("barge needs a monitor of target_call_id (monitor_start)")
    fork = target.media.monitor_fork(monitor_key(live.id))
    if fork is None:
        raise Conflict("the monitor stream of target_call_id has closed")
    key = f"{BARGE_KEY}{live.id}"
    tee = Tee(ForkPlayoutSource(fork))
    with media_errors():
        agent = agent_leg(target)
        agent.media.out.remove_overlay(f"monitor:{target.id}:{monitor_key(live.id)}")
        for party in {target.media, agent}:
            party.whisper(tee.branch(), key=key)
    return {"target_call_id": target.id, "barged": True}


async def monitor_start(ctx: VerbContext, verb: b.MonitorStart) -> dict[str, Any]:
    live = ctx.require_live()
    target = _same_tenant_live(ctx, verb.target_call_id)
    if target is live:
        raise Conflict("a call cannot monitor itself")
    if target.id in live.monitoring:
        raise Conflict("this call already monitors target_call_id")
    config, metadata = await _monitor_fork(ctx, live, target)
    whisper_to = agent_leg(target) if verb.mode == "listen_and_whisper" else None
    with media_errors():
        await target.media.start_monitor(config, metadata, key=monitor_key(live.id),
                                         whisper_to=whisper_to)
    live.monitoring[target.id] = target
    return {"target_call_id": target.id, "mode": verb.mode}


async def monitor_stop(ctx: VerbContext, verb: b.MonitorStop) -> dict[str, Any]:
    live = ctx.require_live()
    target = live.monitoring.pop(verb.target_call_id, None)
    if target is None:
        raise Conflict("this call does not monitor target_call_id")
    with media_errors():
        await target.media.stop_monitor(monitor_key(live.id))
        for party in {target.media, agent_leg(target)}:
            party.media.out.remove_overlay(f"{BARGE_KEY}{live.id}")
    return {"target_call_id": target.id}


async def _monitor_fork(ctx: VerbContext, live: LiveCall, target: LiveCall) -> Any:
    """The monitoring AI's own agent, asked to take a second socket (PRODUCT.md §6.8)."""
    assert ctx.calls is not None
    if live.ai is None:
        raise Conflict("this call has no voice agent to stream to")
    agent = await ctx.calls.voice_agents.get(ctx.call.tenant_id, live.ai.agent_id)
    metadata = ctx.calls.metadata(live.id, live.context, agent) | {
        "stream": "monitor", "target_call_id": target.id}
    return ctx.calls.fork_config(agent, refresh=False), metadata


# -- relationships --------------------------------------------------------------------------------
def _same_tenant_live(ctx: VerbContext, call_id: str) -> LiveCall:
    target = ctx.calls.directory.get(call_id) if ctx.calls is not None else None
    if target is None or target.tenant_id != ctx.call.tenant_id:
        raise NotFound("target_call_id: no such live call in this tenant")
    return target


def _related(ctx: VerbContext, live: LiveCall, call_id: str) -> LiveCall:
    """The target, if this call monitors it or shares a conference with it (page 003: 403)."""
    target = _same_tenant_live(ctx, call_id)
    if target.id in live.monitoring:
        return target
    mine, theirs = live.media, target.media
    hosts = {mine.conference_host or mine, theirs.conference_host or theirs}
    if len(hosts) == 1 and (mine.conference_id() is not None):
        return target
    raise PermissionDenied("target_call_id has no monitor or conference relationship with "
                           "this call")


def agent_leg(target: LiveCall) -> Call:
    media = target.media
    if media.bridged is not None:
        return media.bridged
    for leg in target.legs:
        if leg.member_id is not None and _kind_of(media, leg.member_id) in ("agent",
                                                                           "supervisor"):
            return leg
    return media


HANDLERS: dict[str, Handler] = {
    "conference_start": conference_start, "conference_add": conference_add,
    "conference_remove": conference_remove, "conference_leave": conference_leave,
    "whisper": whisper, "barge": barge, "monitor_start": monitor_start,
    "monitor_stop": monitor_stop,
}


def _kind_of(host: Call, member_id: str) -> str | None:
    conference = host.conference
    member = conference.members.get(member_id) if conference is not None else None
    return member.kind if member is not None else None
