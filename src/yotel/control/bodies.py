"""The Control API's request bodies (page 003): one model per verb, a union discriminated on
`event`. Pure: validation only, no I/O. Unknown fields are refused, so a typo is a 400 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, StrictInt, StrictStr, TypeAdapter, model_validator

from yotel.domain.bodies import Closed, ShortText, Text
from yotel.domain.ids import UuidStr

DTMF_PATTERN = r"^[0-9*#A-Da-d]{1,32}$"
Metadata = Annotated[dict[str, Any], Field(max_length=50)]
Url = Annotated[StrictStr, Field(min_length=1, max_length=2048)]
DestinationType = Literal["agent_queue", "e164", "sip_uri"]
ParticipantType = Literal["e164", "sip_uri", "agent", "supervisor"]
MuteTarget = Literal["caller", "agent"]


class _Verb(Closed):
    pass


class _AudioSource(_Verb):
    """play_audio and whisper: exactly one of `audio_url` / `tts_text` (page 003)."""

    audio_url: Url | None = None
    tts_text: Annotated[Text, Field(max_length=5000)] | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> _AudioSource:
        if (self.audio_url is None) == (self.tts_text is None):
            raise ValueError("exactly one of audio_url and tts_text must be set")
        return self


# -- group 1: call-state primitives -------------------------------------------------------------
class Transfer(_Verb):
    event: Literal["transfer"]
    destination_type: DestinationType
    destination: Annotated[ShortText, Field(min_length=1)]
    metadata: Metadata = Field(default_factory=dict)


class Hangup(_Verb):
    event: Literal["hangup"]
    metadata: Metadata = Field(default_factory=dict)


class Log(_Verb):
    event: Literal["log"]
    metadata: Metadata = Field(default_factory=dict)


class Mute(_Verb):
    event: Literal["mute"]
    target: MuteTarget = "caller"


class Unmute(_Verb):
    event: Literal["unmute"]
    target: MuteTarget = "caller"


class Hold(_Verb):
    event: Literal["hold"]
    moh_url: Url | None = None


class Unhold(_Verb):
    event: Literal["unhold"]


class SendDtmf(_Verb):
    event: Literal["send_dtmf"]
    digits: Annotated[StrictStr, Field(pattern=DTMF_PATTERN)]
    duration_ms: Annotated[StrictInt, Field(ge=40, le=2000)] = 200


class PlayAudio(_AudioSource):
    event: Literal["play_audio"]


class SetDisposition(_Verb):
    event: Literal["set_disposition"]
    disposition: Annotated[ShortText, Field(min_length=1)]
    notes: Annotated[Text, Field(max_length=5000)] | None = None


class RecordingPause(_Verb):
    event: Literal["recording_pause"]
    reason: ShortText | None = None


class RecordingResume(_Verb):
    event: Literal["recording_resume"]
    reason: ShortText | None = None


class GetCallState(_Verb):
    event: Literal["get_call_state"]


# -- group 2: conferencing and supervisors -------------------------------------------
class ConferenceStart(_Verb):
    event: Literal["conference_start"]
    metadata: Metadata = Field(default_factory=dict)


class ConferenceAdd(_Verb):
    event: Literal["conference_add"]
    participant_type: ParticipantType
    destination: Annotated[ShortText, Field(min_length=1)]
    metadata: Metadata = Field(default_factory=dict)


class ConferenceRemove(_Verb):
    event: Literal["conference_remove"]
    member_id: Annotated[StrictStr, Field(pattern=r"^mem-[0-9a-z-]{1,40}$")]


class ConferenceLeave(_Verb):
    event: Literal["conference_leave"]


class RequestSupervisor(_Verb):
    event: Literal["request_supervisor"]
    reason: Annotated[ShortText, Field(min_length=1)]
    urgency: Literal["low", "normal", "high", "critical"] = "normal"


class Whisper(_AudioSource):
    event: Literal["whisper"]
    target_call_id: UuidStr


class Barge(_Verb):
    event: Literal["barge"]
    target_call_id: UuidStr


class MonitorStart(_Verb):
    event: Literal["monitor_start"]
    target_call_id: UuidStr
    mode: Literal["listen", "listen_and_whisper"] = "listen"


class MonitorStop(_Verb):
    event: Literal["monitor_stop"]
    target_call_id: UuidStr


# -- group 3: lead and context -------------------------------------------
class SetLeadField(_Verb):
    event: Literal["set_lead_field"]
    field: Annotated[StrictStr, Field(min_length=1, max_length=100,
                                      pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")]
    value: Any = None


class SetLeadStatus(_Verb):
    event: Literal["set_lead_status"]
    status: Annotated[StrictStr, Field(min_length=1, max_length=32,
                                       pattern=r"^[a-z][a-z0-9_]*$")]


class ScheduleCallback(_Verb):
    event: Literal["schedule_callback"]
    scheduled_at: AwareDatetime
    reason: Annotated[Text, Field(max_length=2000)] | None = None
    voice_agent_id: UuidStr | None = None


Verb = Annotated[
    Transfer | Hangup | Log | Mute | Unmute | Hold | Unhold | SendDtmf | PlayAudio
    | SetDisposition | RecordingPause | RecordingResume | GetCallState
    | ConferenceStart | ConferenceAdd | ConferenceRemove | ConferenceLeave | RequestSupervisor
    | Whisper | Barge | MonitorStart | MonitorStop
    | SetLeadField | SetLeadStatus | ScheduleCallback,
    Field(discriminator="event")]
VERBS = TypeAdapter(Verb)

# Page 003, "Idempotency": how a key is treated, by verb (transfer, hangup, conference_* and
# the last-write-wins verbs keep the 24 h record; the state machine answers a second call 409).
ACTION = frozenset({"play_audio", "whisper", "send_dtmf"})  # a key dedupes within 60 s
KEYLESS = frozenset({"log", "get_call_state"})  # keys ignored
ACTION_WINDOW_S = 60.0
REPLAY_WINDOW_S = 24 * 3600.0


def parse_verb(body: Any) -> Verb:
    """The verb's model, or pydantic's ValidationError (the API turns it into a 400)."""
    return VERBS.validate_python(body)

