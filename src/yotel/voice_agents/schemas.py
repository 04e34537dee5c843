"""The voice agent's fields as the API accepts them (PRODUCT.md §4, page 000).

Unknown fields are refused (`extra="forbid"`) so a typo is a 400, not a silent no-op.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from yotel.domain.urls import WsUrl

DEFAULT_MAX_CONCURRENT = 100
MAX_MAX_CONCURRENT = 100_000


class Encoding(StrEnum):
    PCMU = "pcmu"
    PCMA = "pcma"


class TokenLifetime(StrEnum):
    REFRESH_30MIN = "30min_with_refresh"
    WS_SESSION = "ws_session"


class Subprotocol(StrEnum):
    DRACHTIO = "audio.drachtio.org"
    JAMBONZ = "audio.jambonz.org"


class _Closed(BaseModel):
    # Lax mode would turn "5" into 5 and 1.0 into 1: the API is JSON, so types are exact.
    model_config = ConfigDict(extra="forbid")


class AudioConfig(_Closed):
    """G.711 on the wire: 8 kHz, 20 ms frames (PRODUCT.md §6); only the law varies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: Encoding = Encoding.PCMU
    sample_rate: Literal[8000] = 8000
    frame_ms: Literal[20] = 20


class VoiceAgentCreate(_Closed):
    name: StrictStr = Field(min_length=1, max_length=200)
    ws_url: WsUrl
    auth_token: StrictStr | None = Field(default=None, min_length=1, max_length=4096)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    max_concurrent: StrictInt = Field(default=DEFAULT_MAX_CONCURRENT, ge=1,
                                      le=MAX_MAX_CONCURRENT)
    token_lifetime: TokenLifetime = TokenLifetime.REFRESH_30MIN
    subprotocol: Subprotocol = Subprotocol.DRACHTIO


class VoiceAgentUpdate(_Closed):
    """PATCH: only the fields sent (`model_fields_set`) change; `auth_token: null` removes the
    token; null for any other field is a type error."""

    name: StrictStr = Field(default="", min_length=1, max_length=200)
    ws_url: WsUrl = ""
    auth_token: StrictStr | None = Field(default=None, min_length=1, max_length=4096)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    max_concurrent: StrictInt = Field(default=DEFAULT_MAX_CONCURRENT, ge=1,
                                      le=MAX_MAX_CONCURRENT)
    token_lifetime: TokenLifetime = TokenLifetime.REFRESH_30MIN
    subprotocol: Subprotocol = Subprotocol.DRACHTIO
