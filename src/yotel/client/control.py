"""The Control API's 25 verbs (page 003) as methods of `client.ai_sessions`:

    client.ai_sessions.hangup(call_id, metadata={"reason": "done"}, callback_token=token)
    state = client.ai_sessions.get_call_state(call_id, callback_token=token)   # CallState

Every state-changing verb gets a fresh UUID v4 `Idempotency-Key` (the same on each retry of one
call; `idempotency_key=` to choose it); `log` and `get_call_state` send none. `callback_token`
(`yt_cb_…`, from the metadata frame) replaces the client's API key for the request. Each verb
returns its typed result, which also carries the envelope's `call_id` and `dispatched_at`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

from yotel.client.http import Call as Request
from yotel.client.models import Model
from yotel.client.resource import AsyncResource, SyncResource

M = TypeVar("M", bound="VerbResult")
DestinationType = Literal["agent_queue", "e164", "sip_uri"]
ParticipantType = Literal["e164", "sip_uri", "agent", "supervisor"]
Target = Literal["caller", "agent"]
Mode = Literal["listen", "listen_and_whisper"]
_KEYLESS = frozenset({"log", "get_call_state"})


class VerbResult(Model):
    """What every verb answers: the envelope's `call_id` and `dispatched_at`, and the verb's
    own fields (kept, whatever they are)."""

    call_id: str
    dispatched_at: datetime


class CallState(VerbResult):
    state: str
    duration_s: int
    answered: bool
    current_participants: list[str]
    is_recording: bool
    is_muted: dict[str, bool]
    is_held: bool
    conference_id: str | None = None
    disposition: str | None = None


class Transferred(VerbResult):
    destination_type: str
    destination: str
    answered_by: str | None = None
    agent_id: str | None = None


class ConferenceStarted(VerbResult):
    conference_id: str
    participants: list[dict[str, Any]] = []


class MemberAdded(VerbResult):
    conference_id: str | None = None
    member_id: str


class CallbackScheduled(VerbResult):
    callback_id: str
    scheduled_at: datetime


class EscalationRequested(VerbResult):
    escalation_id: str


def _parse(model: type[M]) -> Callable[[Any], M]:
    def parse(body: Any) -> M:
        return model.model_validate(
            {
                "call_id": body["call_id"],
                "dispatched_at": body["dispatched_at"],
                **(body.get("result") or {}),
            }
        )

    return parse


def verb(call_id: str, event: str, model: type[M], callback_token: str | None,
         idempotency_key: str | None, **fields: Any) -> Request[M]:
    """`POST /ai-sessions/{call_id}/control` with `{"event": event, **fields}`; None fields are
    left out (but `value`, which may be JSON null on purpose)."""
    body = {"event": event, **{k: v for k, v in fields.items() if v is not None or k == "value"}}
    return Request("POST", f"/ai-sessions/{call_id}/control", _parse(model), json=body,
                   bearer=callback_token, idempotency_key=idempotency_key,
                   auto_idempotency_key=event not in _KEYLESS)


def iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else value


class AiSessionVerbs(SyncResource):
    """The 25 Control API verbs, sync (mixed into `client.ai_sessions`)."""

    def transfer(self, call_id: str, destination_type: DestinationType, destination: str, *,
                 metadata: dict[str, Any] | None = None, callback_token: str | None = None,
                 idempotency_key: str | None = None) -> Transferred:
        """Bridge the caller to an agent queue, an E.164 number or a SIP URI; the AI's leg drops."""
        return self._http.run(verb(call_id, "transfer", Transferred, callback_token,
                                   idempotency_key, destination_type=destination_type,
                                   destination=destination, metadata=metadata))

    def hangup(self, call_id: str, *, metadata: dict[str, Any] | None = None,
               callback_token: str | None = None, idempotency_key: str | None = None) -> VerbResult:
        """End the call (outcome `hangup`)."""
        return self._http.run(verb(call_id, "hangup", VerbResult, callback_token, idempotency_key,
                                   metadata=metadata))

    def log(self, call_id: str, *, metadata: dict[str, Any] | None = None,
            callback_token: str | None = None) -> VerbResult:
        """Append an entry to the session's `metadata.logs[]`."""
        return self._http.run(verb(call_id, "log", VerbResult, callback_token, None,
                                   metadata=metadata))

    def mute(self, call_id: str, *, target: Target = "caller", callback_token: str | None = None,
             idempotency_key: str | None = None) -> VerbResult:
        """Mute the caller (nobody hears them) or the agent (the AI is not heard)."""
        return self._http.run(verb(call_id, "mute", VerbResult, callback_token, idempotency_key,
                                   target=target))

    def unmute(self, call_id: str, *, target: Target = "caller", callback_token: str | None = None,
               idempotency_key: str | None = None) -> VerbResult:
        """Undo `mute`."""
        return self._http.run(verb(call_id, "unmute", VerbResult, callback_token, idempotency_key,
                                   target=target))

    def hold(self, call_id: str, *, moh_url: str | None = None, callback_token: str | None = None,
             idempotency_key: str | None = None) -> VerbResult:
        """Hold the caller (re-INVITE sendonly), with music from `moh_url`."""
        return self._http.run(verb(call_id, "hold", VerbResult, callback_token, idempotency_key,
                                   moh_url=moh_url))

    def unhold(self, call_id: str, *, callback_token: str | None = None,
               idempotency_key: str | None = None) -> VerbResult:
        """Resume the caller (re-INVITE sendrecv)."""
        return self._http.run(verb(call_id, "unhold", VerbResult, callback_token, idempotency_key))

    def send_dtmf(self, call_id: str, digits: str, *, duration_ms: int | None = None,
                  callback_token: str | None = None,
                  idempotency_key: str | None = None) -> VerbResult:
        """Send RFC 4733 digits to the caller."""
        return self._http.run(verb(call_id, "send_dtmf", VerbResult, callback_token,
                                   idempotency_key, digits=digits, duration_ms=duration_ms))

    def play_audio(self, call_id: str, *, audio_url: str | None = None, tts_text: str | None = None,
                   callback_token: str | None = None,
                   idempotency_key: str | None = None) -> VerbResult:
        """Play a WAV/MP3 to the caller (`tts_text` is refused, 422, in v1)."""
        return self._http.run(verb(call_id, "play_audio", VerbResult, callback_token,
                                   idempotency_key, audio_url=audio_url, tts_text=tts_text))

    def set_disposition(self, call_id: str, disposition: str, *, notes: str | None = None,
                        callback_token: str | None = None,
                        idempotency_key: str | None = None) -> VerbResult:
        """Save a disposition code on the call (source `ai`)."""
        return self._http.run(verb(call_id, "set_disposition", VerbResult, callback_token,
                                   idempotency_key, disposition=disposition, notes=notes))

    def recording_pause(self, call_id: str, *, reason: str | None = None,
                        callback_token: str | None = None,
                        idempotency_key: str | None = None) -> VerbResult:
        """Pause the stereo recording (silence in the file; the reason is audited)."""
        return self._http.run(verb(call_id, "recording_pause", VerbResult, callback_token,
                                   idempotency_key, reason=reason))

    def recording_resume(self, call_id: str, *, reason: str | None = None,
                         callback_token: str | None = None,
                         idempotency_key: str | None = None) -> VerbResult:
        """Resume the recording."""
        return self._http.run(verb(call_id, "recording_resume", VerbResult, callback_token,
                                   idempotency_key, reason=reason))

    def get_call_state(self, call_id: str, *, callback_token: str | None = None) -> CallState:
        """The call's state now."""
        return self._http.run(verb(call_id, "get_call_state", CallState, callback_token, None))

    def conference_start(self, call_id: str, *, metadata: dict[str, Any] | None = None,
                         callback_token: str | None = None,
                         idempotency_key: str | None = None) -> ConferenceStarted:
        """Promote the call into a conference the AI stays in."""
        return self._http.run(verb(call_id, "conference_start", ConferenceStarted, callback_token,
                                   idempotency_key, metadata=metadata))

    def conference_add(self, call_id: str, participant_type: ParticipantType, destination: str, *,
                       metadata: dict[str, Any] | None = None, callback_token: str | None = None,
                       idempotency_key: str | None = None) -> MemberAdded:
        """Dial a participant into the conference."""
        return self._http.run(verb(call_id, "conference_add", MemberAdded, callback_token,
                                   idempotency_key, participant_type=participant_type,
                                   destination=destination, metadata=metadata))

    def conference_remove(self, call_id: str, member_id: str, *, callback_token: str | None = None,
                          idempotency_key: str | None = None) -> VerbResult:
        """Remove a member (`mem-…`) from the conference."""
        return self._http.run(verb(call_id, "conference_remove", VerbResult, callback_token,
                                   idempotency_key, member_id=member_id))

    def conference_leave(self, call_id: str, *, callback_token: str | None = None,
                         idempotency_key: str | None = None) -> VerbResult:
        """The AI leaves; the rest of the conference goes on."""
        return self._http.run(verb(call_id, "conference_leave", VerbResult, callback_token,
                                   idempotency_key))

    def request_supervisor(self, call_id: str, reason: str, *, urgency: str | None = None,
                           callback_token: str | None = None,
                           idempotency_key: str | None = None) -> EscalationRequested:
        """Escalate to an on-duty supervisor."""
        return self._http.run(verb(call_id, "request_supervisor", EscalationRequested,
                                   callback_token, idempotency_key, reason=reason, urgency=urgency))

    def whisper(self, call_id: str, target_call_id: str, *, audio_url: str | None = None,
                tts_text: str | None = None, callback_token: str | None = None,
                idempotency_key: str | None = None) -> VerbResult:
        """Whisper audio into another call's agent leg."""
        return self._http.run(verb(call_id, "whisper", VerbResult, callback_token, idempotency_key,
                                   target_call_id=target_call_id, audio_url=audio_url,
                                   tts_text=tts_text))

    def barge(self, call_id: str, target_call_id: str, *, callback_token: str | None = None,
              idempotency_key: str | None = None) -> VerbResult:
        """From monitor to full participant: both sides hear the AI."""
        return self._http.run(verb(call_id, "barge", VerbResult, callback_token, idempotency_key,
                                   target_call_id=target_call_id))

    def monitor_start(self, call_id: str, target_call_id: str, *, mode: Mode | None = None,
                      callback_token: str | None = None,
                      idempotency_key: str | None = None) -> VerbResult:
        """Stream another call's mixed audio to a second socket of this agent."""
        return self._http.run(verb(call_id, "monitor_start", VerbResult, callback_token,
                                   idempotency_key, target_call_id=target_call_id, mode=mode))

    def monitor_stop(self, call_id: str, target_call_id: str, *, callback_token: str | None = None,
                     idempotency_key: str | None = None) -> VerbResult:
        """Stop that stream."""
        return self._http.run(verb(call_id, "monitor_stop", VerbResult, callback_token,
                                   idempotency_key, target_call_id=target_call_id))

    def set_lead_field(self, call_id: str, field: str, value: Any, *,
                       callback_token: str | None = None,
                       idempotency_key: str | None = None) -> VerbResult:
        """Patch one key of the lead's `custom_fields`."""
        return self._http.run(verb(call_id, "set_lead_field", VerbResult, callback_token,
                                   idempotency_key, field=field, value=value))

    def set_lead_status(self, call_id: str, status: str, *, callback_token: str | None = None,
                        idempotency_key: str | None = None) -> VerbResult:
        """Set the lead's status (`status_set_by` = `ai`)."""
        return self._http.run(verb(call_id, "set_lead_status", VerbResult, callback_token,
                                   idempotency_key, status=status))

    def schedule_callback(self, call_id: str, scheduled_at: datetime | str, *,
                          reason: str | None = None, voice_agent_id: str | None = None,
                          callback_token: str | None = None,
                          idempotency_key: str | None = None) -> CallbackScheduled:
        """Schedule a call back at `scheduled_at`."""
        return self._http.run(verb(call_id, "schedule_callback", CallbackScheduled, callback_token,
                                   idempotency_key, scheduled_at=iso(scheduled_at), reason=reason,
                                   voice_agent_id=voice_agent_id))


class AsyncAiSessionVerbs(AsyncResource):
    """The 25 Control API verbs, async (mixed into `AsyncYotel().ai_sessions`)."""

    async def transfer(self, call_id: str, destination_type: DestinationType, destination: str, *,
                       metadata: dict[str, Any] | None = None, callback_token: str | None = None,
                       idempotency_key: str | None = None) -> Transferred:
        """Bridge the caller to an agent queue, an E.164 number or a SIP URI; the AI's leg drops."""
        return await self._http.run(verb(call_id, "transfer", Transferred, callback_token,
                                         idempotency_key, destination_type=destination_type,
                                         destination=destination, metadata=metadata))

    async def hangup(self, call_id: str, *, metadata: dict[str, Any] | None = None,
                     callback_token: str | None = None,
                     idempotency_key: str | None = None) -> VerbResult:
        """End the call (outcome `hangup`)."""
        return await self._http.run(verb(call_id, "hangup", VerbResult, callback_token,
                                         idempotency_key, metadata=metadata))

    async def log(self, call_id: str, *, metadata: dict[str, Any] | None = None,
                  callback_token: str | None = None) -> VerbResult:
        """Append an entry to the session's `metadata.logs[]`."""
        return await self._http.run(verb(call_id, "log", VerbResult, callback_token, None,
                                         metadata=metadata))

    async def mute(self, call_id: str, *, target: Target = "caller",
                   callback_token: str | None = None,
                   idempotency_key: str | None = None) -> VerbResult:
        """Mute the caller (nobody hears them) or the agent (the AI is not heard)."""
        return await self._http.run(verb(call_id, "mute", VerbResult, callback_token,
                                         idempotency_key, target=target))

    async def unmute(self, call_id: str, *, target: Target = "caller",
                     callback_token: str | None = None,
                     idempotency_key: str | None = None) -> VerbResult:
        """Undo `mute`."""
        return await self._http.run(verb(call_id, "unmute", VerbResult, callback_token,
                                         idempotency_key, target=target))

    async def hold(self, call_id: str, *, moh_url: str | None = None,
                   callback_token: str | None = None,
                   idempotency_key: str | None = None) -> VerbResult:
        """Hold the caller (re-INVITE sendonly), with music from `moh_url`."""
        return await self._http.run(verb(call_id, "hold", VerbResult, callback_token,
                                         idempotency_key, moh_url=moh_url))

    async def unhold(self, call_id: str, *, callback_token: str | None = None,
                     idempotency_key: str | None = None) -> VerbResult:
        """Resume the caller (re-INVITE sendrecv)."""
        return await self._http.run(verb(call_id, "unhold", VerbResult, callback_token,
                                         idempotency_key))

    async def send_dtmf(self, call_id: str, digits: str, *, duration_ms: int | None = None,
                        callback_token: str | None = None,
                        idempotency_key: str | None = None) -> VerbResult:
        """Send RFC 4733 digits to the caller."""
        return await self._http.run(verb(call_id, "send_dtmf", VerbResult, callback_token,
                                         idempotency_key, digits=digits, duration_ms=duration_ms))

    async def play_audio(self, call_id: str, *, audio_url: str | None = None,
                         tts_text: str | None = None, callback_token: str | None = None,
                         idempotency_key: str | None = None) -> VerbResult:
        """Play a WAV/MP3 to the caller (`tts_text` is refused, 422, in v1)."""
        return await self._http.run(verb(call_id, "play_audio", VerbResult, callback_token,
                                         idempotency_key, audio_url=audio_url, tts_text=tts_text))

    async def set_disposition(self, call_id: str, disposition: str, *, notes: str | None = None,
                              callback_token: str | None = None,
                              idempotency_key: str | None = None) -> VerbResult:
        """Save a disposition code on the call (source `ai`)."""
        return await self._http.run(verb(call_id, "set_disposition", VerbResult, callback_token,
                                         idempotency_key, disposition=disposition, notes=notes))

    async def recording_pause(self, call_id: str, *, reason: str | None = None,
                              callback_token: str | None = None,
                              idempotency_key: str | None = None) -> VerbResult:
        """Pause the stereo recording (silence in the file; the reason is audited)."""
        return await self._http.run(verb(call_id, "recording_pause", VerbResult, callback_token,
                                         idempotency_key, reason=reason))

    async def recording_resume(self, call_id: str, *, reason: str | None = None,
                               callback_token: str | None = None,
                               idempotency_key: str | None = None) -> VerbResult:
        """Resume the recording."""
        return await self._http.run(verb(call_id, "recording_resume", VerbResult, callback_token,
                                         idempotency_key, reason=reason))

    async def get_call_state(self, call_id: str, *, callback_token: str | None = None) -> CallState:
        """The call's state now."""
        return await self._http.run(verb(call_id, "get_call_state", CallState, callback_token,
                                         None))

    async def conference_start(self, call_id: str, *, metadata: dict[str, Any] | None = None,
                               callback_token: str | None = None,
                               idempotency_key: str | None = None) -> ConferenceStarted:
        """Promote the call into a conference the AI stays in."""
        return await self._http.run(verb(call_id, "conference_start", ConferenceStarted,
                                         callback_token, idempotency_key, metadata=metadata))

    async def conference_add(self, call_id: str, participant_type: ParticipantType,
                             destination: str, *, metadata: dict[str, Any] | None = None,
                             callback_token: str | None = None,
                             idempotency_key: str | None = None) -> MemberAdded:
        """Dial a participant into the conference."""
        return await self._http.run(verb(call_id, "conference_add", MemberAdded, callback_token,
                                         idempotency_key, participant_type=participant_type,
                                         destination=destination, metadata=metadata))

    async def conference_remove(self, call_id: str, member_id: str, *,
                                callback_token: str | None = None,
                                idempotency_key: str | None = None) -> VerbResult:
        """Remove a member (`mem-…`) from the conference."""
        return await self._http.run(verb(call_id, "conference_remove", VerbResult, callback_token,
                                         idempotency_key, member_id=member_id))

    async def conference_leave(self, call_id: str, *, callback_token: str | None = None,
                               idempotency_key: str | None = None) -> VerbResult:
        """The AI leaves; the rest of the conference goes on."""
        return await self._http.run(verb(call_id, "conference_leave", VerbResult, callback_token,
                                         idempotency_key))

    async def request_supervisor(self, call_id: str, reason: str, *, urgency: str | None = None,
                                 callback_token: str | None = None,
                                 idempotency_key: str | None = None) -> EscalationRequested:
        """Escalate to an on-duty supervisor."""
        return await self._http.run(verb(call_id, "request_supervisor", EscalationRequested,
                                         callback_token, idempotency_key, reason=reason,
                                         urgency=urgency))

    async def whisper(self, call_id: str, target_call_id: str, *, audio_url: str | None = None,
                      tts_text: str | None = None, callback_token: str | None = None,
                      idempotency_key: str | None = None) -> VerbResult:
        """Whisper audio into another call's agent leg."""
        return await self._http.run(verb(call_id, "whisper", VerbResult, callback_token,
                                         idempotency_key, target_call_id=target_call_id,
                                         audio_url=audio_url, tts_text=tts_text))

    async def barge(self, call_id: str, target_call_id: str, *, callback_token: str | None = None,
                    idempotency_key: str | None = None) -> VerbResult:
        """From monitor to full participant: both sides hear the AI."""
        return await self._http.run(verb(call_id, "barge", VerbResult, callback_token,
                                         idempotency_key, target_call_id=target_call_id))

    async def monitor_start(self, call_id: str, target_call_id: str, *, mode: Mode | None = None,
                            callback_token: str | None = None,
                            idempotency_key: str | None = None) -> VerbResult:
        """Stream another call's mixed audio to a second socket of this agent."""
        return await self._http.run(verb(call_id, "monitor_start", VerbResult, callback_token,
                                         idempotency_key, target_call_id=target_call_id, mode=mode))

    async def monitor_stop(self, call_id: str, target_call_id: str, *,
                           callback_token: str | None = None,
                           idempotency_key: str | None = None) -> VerbResult:
        """Stop that stream."""
        return await self._http.run(verb(call_id, "monitor_stop", VerbResult, callback_token,
                                         idempotency_key, target_call_id=target_call_id))

    async def set_lead_field(self, call_id: str, field: str, value: Any, *,
                             callback_token: str | None = None,
                             idempotency_key: str | None = None) -> VerbResult:
        """Patch one key of the lead's `custom_fields`."""
        return await self._http.run(verb(call_id, "set_lead_field", VerbResult, callback_token,
                                         idempotency_key, field=field, value=value))

    async def set_lead_status(self, call_id: str, status: str, *, callback_token: str | None = None,
                              idempotency_key: str | None = None) -> VerbResult:
        """Set the lead's status (`status_set_by` = `ai`)."""
        return await self._http.run(verb(call_id, "set_lead_status", VerbResult, callback_token,
                                         idempotency_key, status=status))

    async def schedule_callback(self, call_id: str, scheduled_at: datetime | str, *,
                                reason: str | None = None, voice_agent_id: str | None = None,
                                callback_token: str | None = None,
                                idempotency_key: str | None = None) -> CallbackScheduled:
        """Schedule a call back at `scheduled_at`."""
        return await self._http.run(verb(call_id, "schedule_callback", CallbackScheduled,
                                         callback_token, idempotency_key,
                                         scheduled_at=iso(scheduled_at), reason=reason,
                                         voice_agent_id=voice_agent_id))
