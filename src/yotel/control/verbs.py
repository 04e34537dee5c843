"""What each Control API verb does (page 003 groups 1 and 3). Live-call verbs act through the
call's owner and the media `Call`'s public verbs; lead and context verbs write the database.
Media errors become HTTP errors in one place (`yotel.calls.errors`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.calls.ailog import MAX_ENTRIES
from yotel.calls.errors import media_errors
from yotel.calls.live import LiveCall
from yotel.calls.service import CallService
from yotel.calls.tokens import iso
from yotel.control import bodies as b
from yotel.control.escalate import request_supervisor
from yotel.db.engine import Database
from yotel.db.models import AiSession, Call, Callback, Lead, VoiceAgent
from yotel.domain.bodies import unknown_reference
from yotel.domain.errors import Conflict, Unprocessable, ValidationError
from yotel.domain.ids import new_id
from yotel.media.player import AudioFetchError, AudioPlayer, FetchLimits, load_audio
from yotel.net.guard import UnsafeUrlError, check_url_for_save

if TYPE_CHECKING:
    from yotel.control.service import CallRef



@dataclass(frozen=True)
class VerbContext:
    db: Database
    calls: CallService | None
    call: CallRef
    live: LiveCall | None
    allow_insecure: bool

    def require_live(self) -> LiveCall:
        if self.live is None:
            raise Conflict("the call is not live on this node")
        return self.live


Handler = Callable[[VerbContext, Any], Awaitable[dict[str, Any]]]


# -- group 1 -------------------------------------------
async def _transfer(ctx: VerbContext, verb: b.Transfer) -> dict[str, Any]:
    from yotel.calls.transfer import transfer  # the one primitive flows use too

    live = ctx.require_live()
    assert ctx.calls is not None
    result = await transfer(ctx.calls, live, verb.destination_type, verb.destination,
                            dict(verb.metadata))
    return result.as_dict()


async def _hangup(ctx: VerbContext, verb: b.Hangup) -> dict[str, Any]:
    live = ctx.require_live()
    with media_errors():
        await live.media.hangup("hangup", reason=str(verb.metadata.get("reason", "")))
    return {}


async def _log(ctx: VerbContext, verb: b.Log) -> dict[str, Any]:
    await _append_log(ctx, {"at": iso(datetime.now(UTC)), "metadata": dict(verb.metadata)})
    return {}


async def _mute(ctx: VerbContext, verb: b.Mute | b.Unmute) -> dict[str, Any]:
    live = ctx.require_live()
    with media_errors():
        live.media.mute(verb.target, verb.event == "mute")
    return {"target": verb.target, "muted": verb.event == "mute"}


async def _hold(ctx: VerbContext, verb: b.Hold) -> dict[str, Any]:
    live = ctx.require_live()
    music = None
    if verb.moh_url is not None:
        music = AudioPlayer(await fetch_audio(ctx, verb.moh_url, "moh_url"), loop=True)
    with media_errors():
        await live.media.hold(music)
    return {"held": True}


async def _unhold(ctx: VerbContext, _verb: b.Unhold) -> dict[str, Any]:
    live = ctx.require_live()
    with media_errors():
        await live.media.unhold()
    return {"held": False}


async def _send_dtmf(ctx: VerbContext, verb: b.SendDtmf) -> dict[str, Any]:
    live = ctx.require_live()
    if live.media.state != "answered":
        raise Conflict("the call is not answered")
    # RFC 4733 digits take their duration each: sent in the call's background, answered now.
    live.scope.spawn(_dtmf(live, verb.digits.upper(), verb.duration_ms), name="send-dtmf")
    return {"digits": verb.digits.upper(), "duration_ms": verb.duration_ms}


async def _dtmf(live: LiveCall, digits: str, duration_ms: int) -> None:
    with media_errors():
        await live.media.send_dtmf(digits, duration_ms)


async def _play_audio(ctx: VerbContext, verb: b.PlayAudio) -> dict[str, Any]:
    live = ctx.require_live()
    if verb.audio_url is None:
        raise Unprocessable("tts_text is not supported in v1: send audio_url with a "
                            "pre-rendered WAV or MP3")
    player = AudioPlayer(await fetch_audio(ctx, verb.audio_url, "audio_url"))
    with media_errors():
        live.media.play(player)
    return {"duration_ms": round(player.duration_s * 1000)}


async def _set_disposition(ctx: VerbContext, verb: b.SetDisposition) -> dict[str, Any]:
    if ctx.live is not None:
        ctx.live.disposition = verb.disposition  # get_call_state reads it from memory
    async with ctx.db.write() as session:
        await session.execute(update(Call).where(Call.id == ctx.call.id).values(
            disposition=verb.disposition, disposition_source="ai"))
        if ctx.call.lead_id is not None:
            await session.execute(update(Lead).where(Lead.id == ctx.call.lead_id).values(
                disposition=verb.disposition))
    if verb.notes is not None:
        await _append_log(ctx, {"at": iso(datetime.now(UTC)), "event": "set_disposition",
                                "disposition": verb.disposition, "notes": verb.notes})
    return {"disposition": verb.disposition, "source": "ai"}


async def _recording(ctx: VerbContext, verb: b.RecordingPause | b.RecordingResume
                     ) -> dict[str, Any]:
    live = ctx.require_live()
    paused = verb.event == "recording_pause"
    with media_errors():
        if paused:
            live.media.pause_recording(verb.reason)
        else:
            live.media.resume_recording()
    await _append_log(ctx, {"at": iso(datetime.now(UTC)), "event": verb.event,
                            "reason": verb.reason})  # the audit of who stopped recording, why
    return {"recording": not paused}


async def _get_call_state(ctx: VerbContext, _verb: b.GetCallState) -> dict[str, Any]:
    live = ctx.require_live()
    snap = live.media.snapshot()
    disposition = live.disposition
    return {
        "state": "in_progress" if snap.state == "answered" else snap.state,
        "duration_s": int(snap.duration_s), "answered": snap.answered,
        "current_participants": snap.participants, "is_recording": snap.is_recording,
        "is_muted": dict(snap.muted), "is_held": snap.held,
        "conference_id": snap.conference_id, "disposition": disposition,
    }


# -- group 3 -------------------------------------------
async def _set_lead_field(ctx: VerbContext, verb: b.SetLeadField) -> dict[str, Any]:
    lead_id = _lead_of(ctx)
    async with ctx.db.write() as session:
        lead = await session.get(Lead, lead_id)
        if lead is None:
            raise Conflict("the call's lead no longer exists")
        lead.custom_fields = {**lead.custom_fields, verb.field: verb.value}  # a new dict: dirty
    return {"lead_id": lead_id, "field": verb.field, "value": verb.value}


async def _set_lead_status(ctx: VerbContext, verb: b.SetLeadStatus) -> dict[str, Any]:
    lead_id = _lead_of(ctx)
    async with ctx.db.write() as session:
        done = await session.execute(update(Lead).where(Lead.id == lead_id).values(
            status=verb.status, status_set_by="ai"))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            raise Conflict("the call's lead no longer exists")
    return {"lead_id": lead_id, "status": verb.status, "status_set_by": "ai"}


async def _schedule_callback(ctx: VerbContext, verb: b.ScheduleCallback) -> dict[str, Any]:
    if verb.scheduled_at <= datetime.now(UTC):
        raise ValidationError("scheduled_at: must be in the future", details=[
            {"loc": ["body", "scheduled_at"], "msg": "in the past", "type": "value_error"}])
    async with ctx.db.write() as session:
        if verb.voice_agent_id is not None:
            agent = await session.get(VoiceAgent, verb.voice_agent_id)
            if agent is None or agent.tenant_id != ctx.call.tenant_id:
                raise unknown_reference("voice_agent_id", "voice agent")
        phone = await _callback_number(session, ctx)
        row = Callback(id=new_id(), tenant_id=ctx.call.tenant_id,
                       campaign_id=ctx.call.campaign_id, lead_id=ctx.call.lead_id,
                       call_id=ctx.call.id, phone=phone, scheduled_at=verb.scheduled_at,
                       reason=verb.reason, voice_agent_id=verb.voice_agent_id)
        session.add(row)
    return {"callback_id": row.id, "scheduled_at": iso(verb.scheduled_at)}


async def _callback_number(session: Any, ctx: VerbContext) -> str:
    """Whom to call back: the lead's number, else the call's far end (E.164 only)."""
    if ctx.call.lead_id is not None:
        phone = await session.scalar(select(Lead.phone).where(Lead.id == ctx.call.lead_id))
        if phone:
            return str(phone)
    row = (await session.execute(select(Call.direction, Call.from_, Call.to).where(
        Call.id == ctx.call.id))).one()
    number = row.from_ if row.direction == "inbound" else row.to
    digits = str(number).removeprefix("sip:").split("@", 1)[0]
    if not digits.lstrip("+").isdigit():
        raise Conflict("the call has no phone number to call back")
    return digits if digits.startswith("+") else f"+{digits}"


# -- shared -------------------------------------------
def _lead_of(ctx: VerbContext) -> str:
    if ctx.call.lead_id is None:
        raise Conflict("the call has no lead")
    return ctx.call.lead_id


async def _append_log(ctx: VerbContext, entry: dict[str, Any]) -> None:
    call_id = ctx.call.id

    async def append(session: AsyncSession) -> None:
        row = await session.get(AiSession, call_id)
        if row is None:
            raise Conflict("the call has no AI session yet")
        logs = [*row.metadata_.get("logs", []), entry][-MAX_ENTRIES:]
        row.metadata_ = {**row.metadata_, "logs": logs}

    live = ctx.live
    if live is not None:  # group commit with every live call's writes (calls/writer.py)
        if live.ai is None or not live.ai.started:  # its ai_sessions row is not written
            raise Conflict("the call has no AI session yet")
        try:
            await live.history.commit(live.ai_log.append(entry))
        except BaseException:
            live.ai_log.forget(entry)
            raise
        return
    async with ctx.db.write() as session:
        await append(session)


async def fetch_audio(ctx: VerbContext, url: str, field: str) -> bytes:
    try:  # PRODUCT.md §2: https to a public host, unless insecure URLs are allowed
        check_url_for_save(url, secure_schemes={"https"}, insecure_schemes={"http"},
                           allow_insecure=ctx.allow_insecure)
    except ValueError as exc:  # UnsafeUrlError, or a URL urlsplit cannot read
        message = str(exc) if isinstance(exc, UnsafeUrlError) else "malformed URL"
        raise ValidationError(f"{field}: {message}", details=[
            {"loc": ["body", field], "msg": message, "type": "url"}]) from exc
    try:
        return await load_audio(url, FetchLimits(allow_insecure=ctx.allow_insecure))
    except AudioFetchError as exc:
        raise Unprocessable(f"{field}: the audio could not be fetched or decoded") from exc


HANDLERS: dict[str, Handler] = {
    "transfer": _transfer, "hangup": _hangup, "log": _log, "mute": _mute, "unmute": _mute,
    "hold": _hold, "unhold": _unhold, "send_dtmf": _send_dtmf, "play_audio": _play_audio,
    "set_disposition": _set_disposition, "recording_pause": _recording,
    "recording_resume": _recording, "get_call_state": _get_call_state,
    "set_lead_field": _set_lead_field, "set_lead_status": _set_lead_status,
    "schedule_callback": _schedule_callback, "request_supervisor": request_supervisor,
}
