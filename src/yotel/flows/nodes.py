"""Node types of a flow and the `data` each one takes (PRODUCT.md §4). Pure."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr, model_validator

from yotel.campaigns.schemas import Clock, Day, Zone
from yotel.domain.bodies import Closed, Text
from yotel.domain.phone import is_e164
from yotel.sip.address import SipUri


class NodeType(StrEnum):
    CONNECT_VOICE_AGENT = "connect_voice_agent"
    PLAY_AUDIO = "play_audio"
    GATHER_DTMF = "gather_dtmf"
    TRANSFER = "transfer"
    TIME_CONDITION = "time_condition"
    HANGUP = "hangup"


DestinationType = Literal["e164", "sip_uri", "agent_queue"]


def check_sip_uri(value: str) -> str:
    """A `sip:`/`sips:` URI with a host (RFC 3261 §19.1); ValueError otherwise."""
    try:
        uri = SipUri.parse(value)
    except ValueError as exc:
        raise ValueError(f"not a SIP URI: {exc}") from exc
    if not uri.host or uri.user == "":
        raise ValueError("a SIP URI needs a host (sip:user@host)")
    return value


class ConnectVoiceAgent(Closed):
    voice_agent_id: Annotated[StrictStr, Field(max_length=64)]


class PlayAudio(Closed):
    audio_url: Annotated[Text, Field(min_length=1, max_length=2048)]


class GatherDtmf(Closed):
    max_digits: StrictInt = Field(default=1, ge=1, le=32)
    timeout_s: StrictInt = Field(default=5, ge=1, le=120)


class Transfer(Closed):
    destination_type: DestinationType
    destination: Annotated[Text, Field(min_length=1, max_length=512)]

    @model_validator(mode="after")
    def _destination_fits_type(self) -> Transfer:
        if self.destination_type == "e164" and not is_e164(self.destination):
            raise ValueError("destination must be E.164 ('+' then 8 to 15 digits)")
        if self.destination_type == "sip_uri":
            check_sip_uri(self.destination)
        return self


class OpenHours(Closed):
    days: list[Day] = Field(min_length=1)
    start: Clock
    end: Clock


class TimeCondition(Closed):
    timezone: Zone
    hours: list[OpenHours] = Field(min_length=1)


class Hangup(Closed):
    pass


NODE_DATA: dict[str, type[BaseModel]] = {
    NodeType.CONNECT_VOICE_AGENT: ConnectVoiceAgent,
    NodeType.PLAY_AUDIO: PlayAudio,
    NodeType.GATHER_DTMF: GatherDtmf,
    NodeType.TRANSFER: Transfer,
    NodeType.TIME_CONDITION: TimeCondition,
    NodeType.HANGUP: Hangup,
}

__all__ = ["NODE_DATA", "DestinationType", "NodeType", "check_sip_uri"]
