"""Text frames of the v1 audio-fork protocol (PRODUCT.md §6), both directions, pure.

AI → Yotel (`parse`): `clear` (alias `killAudio`), `mark` (also jambonz `{"type": "mark",
"data": {"name"}}`), `clearMarks`, `playAudio` (drachtio `{"data": {"audioContent": base64}}`).
Aliases are accepted whatever subprotocol was negotiated; values are canonical, so
`parse(bytes(frame)) == frame`.

Yotel → AI (`parse_yotel_frame`, used by the fake AI and by users' tests): `metadata`, `dtmf`,
`token_refresh`, `event`, `warning`, `error`, `stop`, `cleared`, `mark` (playout|cleared).

Anything unknown or malformed raises `FrameError` (a `ValueError`) carrying the `code` the fork
puts in the `error` frame it answers with.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from yotel.domain.audio import DRACHTIO_SUBPROTOCOL as DRACHTIO_SUBPROTOCOL
from yotel.domain.audio import JAMBONZ_SUBPROTOCOL as JAMBONZ_SUBPROTOCOL

PROTOCOL = "yotel.audio-fork/1"
# Text frames larger than this are refused without parsing; 1 MiB holds a 60 s playAudio
# (480 000 G.711 bytes are 640 000 base64 characters).
MAX_TEXT_BYTES = 1 << 20
MAX_MARK_NAME = 256


class FrameError(ValueError):
    """A text frame that cannot be accepted; `code` goes into the answering `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------- AI -> Yotel


@dataclass(frozen=True, slots=True)
class Clear:
    """Drop all queued AI audio (alias `killAudio`)."""

    def __bytes__(self) -> bytes:
        return _dumps({"type": "clear"})


@dataclass(frozen=True, slots=True)
class Mark:
    """A named point in the AI audio received so far."""

    name: str

    def __bytes__(self) -> bytes:
        return _dumps({"type": "mark", "name": self.name})


@dataclass(frozen=True, slots=True)
class ClearMarks:
    """Forget pending marks without answering them."""

    def __bytes__(self) -> bytes:
        return _dumps({"type": "clearMarks"})


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """drachtio-style audio in a text frame; appended to the playout queue."""

    audio: bytes

    def __bytes__(self) -> bytes:
        content = base64.b64encode(self.audio).decode("ascii")
        return _dumps({"type": "playAudio", "data": {"audioContent": content}})


AiFrame = Clear | Mark | ClearMarks | PlayAudio


def _load(data: str | bytes) -> dict[str, Any]:
    if len(data) > MAX_TEXT_BYTES:
        raise FrameError("frame_too_large", f"text frame over {MAX_TEXT_BYTES} bytes")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FrameError("invalid_json", "text frame is not valid JSON") from exc
    if not isinstance(body, dict):
        raise FrameError("invalid_frame", "text frame must be a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_frame", "text frame has no string 'type'")
    return body


def _str(body: Mapping[str, Any], key: str, *, limit: int = MAX_MARK_NAME) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise FrameError("invalid_frame", f"{key!r} must be a string of 1..{limit} characters")
    return value


def _int(body: Mapping[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError("invalid_frame", f"{key!r} must be a non-negative integer")
    return value


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    value = body.get("data")
    if not isinstance(value, dict):
        raise FrameError("invalid_frame", "'data' must be an object")
    return value


def _parse_mark(body: dict[str, Any]) -> Mark:
    # jambonz nests the name under "data"; ours is flat. Either is accepted.
    if "name" not in body and isinstance(body.get("data"), dict):
        return Mark(_str(body["data"], "name"))
    return Mark(_str(body, "name"))


def _parse_play_audio(body: dict[str, Any]) -> PlayAudio:
    content = _data(body).get("audioContent")
    if not isinstance(content, str):
        raise FrameError("invalid_frame", "'data.audioContent' must be a base64 string")
    try:
        return PlayAudio(base64.b64decode(content, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise FrameError("invalid_frame", "'data.audioContent' is not valid base64") from exc


def parse(data: str | bytes) -> AiFrame:
    """Parse a text frame sent by the AI; raise `FrameError` for anything unknown or malformed."""
    body = _load(data)
    kind = body["type"]
    if kind in ("clear", "killAudio"):
        return Clear()
    if kind == "mark":
        return _parse_mark(body)
    if kind == "clearMarks":
        return ClearMarks()
    if kind == "playAudio":
        return _parse_play_audio(body)
    raise FrameError("unknown_frame", f"unknown frame type {kind[:64]!r}")


# ---------------------------------------------------------------------------- Yotel -> AI


@dataclass(frozen=True, slots=True)
class Metadata:
    """The first frame on every socket. `fields` is what the engine knows about the call
    (call_id, tenant_id, voice_agent_id, direction, from, to, campaign_id, flow_id, lead, audio,
    yotel_callback_token, token_expires_at, control_url, and for monitors stream/target_call_id).
    """

    fields: Mapping[str, Any]
    subprotocol: str = DRACHTIO_SUBPROTOCOL
    resumed: bool = False
    gap_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "metadata", "protocol": PROTOCOL, **self.fields}
        body["resumed"] = self.resumed
        if self.resumed:
            body["gap_ms"] = self.gap_ms or 0
        if self.subprotocol == JAMBONZ_SUBPROTOCOL:
            body.setdefault("callSid", self.fields.get("call_id"))
            body.setdefault("sampleRate", 8000)
            body.setdefault("mixType", "mono")
        return body

    def __bytes__(self) -> bytes:
        return _dumps(self.to_dict())


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str
    duration_ms: int

    def __bytes__(self) -> bytes:
        # jambonz servers read "event"/"dtmf"; ours read "digit"/"duration_ms". Send both.
        return _dumps({"type": "dtmf", "digit": self.digit, "duration_ms": self.duration_ms,
                       "event": "dtmf", "dtmf": self.digit})


@dataclass(frozen=True, slots=True)
class TokenRefresh:
    yotel_callback_token: str
    token_expires_at: str

    def __bytes__(self) -> bytes:
        return _dumps({"type": "token_refresh", "yotel_callback_token": self.yotel_callback_token,
                       "token_expires_at": self.token_expires_at})


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def __bytes__(self) -> bytes:
        return _dumps({"type": "event", "name": self.name, "data": dict(self.data)})


@dataclass(frozen=True, slots=True)
class WarningFrame:
    """`code` is `caller_audio_dropped` (slow AI), `playout_overflow` (over the 60 s cap) or
    `rate_limited` (over a fork limit; `counts` then says what was dropped:
    `dropped_messages`, `dropped_text`, `dropped_pings`). Extra integer fields go in `counts`."""

    code: str
    dropped_ms: int
    counts: Mapping[str, int] = field(default_factory=dict)

    def __bytes__(self) -> bytes:
        return _dumps({"type": "warning", "code": self.code, "dropped_ms": self.dropped_ms,
                       **self.counts})


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    code: str
    message: str

    def __bytes__(self) -> bytes:
        return _dumps({"type": "error", "code": self.code, "message": self.message})


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str

    def __bytes__(self) -> bytes:
        return _dumps({"type": "stop", "reason": self.reason})


@dataclass(frozen=True, slots=True)
class Cleared:
    played_ms: int
    discarded_ms: int

    def __bytes__(self) -> bytes:
        return _dumps({"type": "cleared", "played_ms": self.played_ms,
                       "discarded_ms": self.discarded_ms})


@dataclass(frozen=True, slots=True)
class MarkEvent:
    name: str
    event: Literal["playout", "cleared"]
    played_ms: int

    def __bytes__(self) -> bytes:
        return _dumps({"type": "mark", "name": self.name, "event": self.event,
                       "played_ms": self.played_ms})


YotelFrame = (Metadata | Dtmf | TokenRefresh | Event | WarningFrame | ErrorFrame | Stop
              | Cleared | MarkEvent)


def _parse_metadata(body: dict[str, Any]) -> Metadata:
    if body.get("protocol") != PROTOCOL:
        raise FrameError("invalid_frame", f"metadata protocol must be {PROTOCOL!r}")
    resumed = body.get("resumed") is True
    jambonz = "callSid" in body
    fields = {k: v for k, v in body.items() if k not in _METADATA_ENVELOPE}
    if jambonz:
        for key in ("callSid", "sampleRate", "mixType"):
            fields.pop(key, None)
    return Metadata(fields, JAMBONZ_SUBPROTOCOL if jambonz else DRACHTIO_SUBPROTOCOL, resumed,
                    _int(body, "gap_ms") if resumed else None)


_METADATA_ENVELOPE = frozenset({"type", "protocol", "resumed", "gap_ms"})
_WARNING_ENVELOPE = frozenset({"type", "code", "dropped_ms"})


def _parse_mark_event(body: dict[str, Any]) -> MarkEvent:
    event = body.get("event")
    if event not in ("playout", "cleared"):
        raise FrameError("invalid_frame", "mark 'event' must be 'playout' or 'cleared'")
    return MarkEvent(_str(body, "name"), event, _int(body, "played_ms"))


def _parse_event(body: dict[str, Any]) -> Event:
    return Event(_str(body, "name", limit=64), _data(body))


def parse_yotel_frame(data: str | bytes) -> YotelFrame:
    """Parse a text frame sent by Yotel (what an AI receives); raise `FrameError` if invalid."""
    body = _load(data)
    kind = body["type"]
    if kind == "metadata":
        return _parse_metadata(body)
    if kind == "dtmf":
        return Dtmf(_str(body, "digit", limit=1), _int(body, "duration_ms"))
    if kind == "token_refresh":
        return TokenRefresh(_str(body, "yotel_callback_token", limit=128),
                            _str(body, "token_expires_at", limit=64))
    if kind == "event":
        return _parse_event(body)
    if kind == "warning":
        counts = {key: value for key, value in body.items()
                  if key not in _WARNING_ENVELOPE and type(value) is int}
        return WarningFrame(_str(body, "code", limit=64), _int(body, "dropped_ms"), counts)
    if kind == "error":
        return ErrorFrame(_str(body, "code", limit=64), str(body.get("message", "")))
    if kind == "stop":
        return Stop(_str(body, "reason", limit=64))
    if kind == "cleared":
        return Cleared(_int(body, "played_ms"), _int(body, "discarded_ms"))
    if kind == "mark":
        return _parse_mark_event(body)
    raise FrameError("unknown_frame", f"unknown frame type {kind[:64]!r}")
