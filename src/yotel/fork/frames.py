"""Text frames of the v1 audio fork (PRODUCT.md §6): what the AI may send us, parsed into
commands, and what we send it, built as dicts. No I/O.

Aliases from the two legacy vocabularies are accepted whatever the negotiated subprotocol:
`killAudio` = `clear`; jambonz marks carry their name in `data.name`; drachtio `playAudio` carries
base64 G.711 in `data.audioContent`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

PROTOCOL = "yotel.audio-fork/1"
MAX_TEXT_FRAME = 1 << 20  # a base64 playAudio of ~40 s fits; larger text is refused


class FrameError(ValueError):
    """A text frame we cannot act on; the AI is answered with an `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Clear:
    pass


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class ClearMarks:
    pass


@dataclass(frozen=True)
class PlayAudio:
    audio: bytes


Command = Clear | Mark | ClearMarks | PlayAudio


def parse(text: str) -> Command:
    """One AI → Yotel text frame."""
    if len(text) > MAX_TEXT_FRAME:
        raise FrameError("frame_too_large", "text frame exceeds 1 MiB")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FrameError("invalid_json", "text frame is not JSON") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("invalid_frame", "a text frame is a JSON object with a string `type`")
    kind = frame["type"]
    if kind in ("clear", "killAudio"):
        return Clear()
    if kind == "clearMarks":
        return ClearMarks()
    if kind == "mark":
        return Mark(_mark_name(frame))
    if kind == "playAudio":
        return PlayAudio(_audio_content(frame))
    raise FrameError("unknown_frame", f"unknown frame type {kind[:40]!r}")


def _mark_name(frame: dict[str, Any]) -> str:
    name = frame.get("name")
    data = frame.get("data")
    if name is None and isinstance(data, dict):
        name = data.get("name")  # jambonz shape
    if not isinstance(name, str) or not name or len(name) > 256:
        raise FrameError("invalid_mark", "mark needs a `name` string (1-256 chars)")
    return name


def _audio_content(frame: dict[str, Any]) -> bytes:
    data = frame.get("data")
    content = data.get("audioContent") if isinstance(data, dict) else None
    if not isinstance(content, str):
        raise FrameError("invalid_play_audio", "playAudio needs data.audioContent (base64)")
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise FrameError("invalid_play_audio", "audioContent is not base64") from exc


def dump(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))


def metadata(base: dict[str, Any], *, subprotocol: str, resumed: bool = False,
             gap_ms: int | None = None) -> dict[str, Any]:
    frame = {"type": "metadata", "protocol": PROTOCOL, **base, "resumed": resumed}
    if resumed:
        frame["gap_ms"] = gap_ms or 0
    if subprotocol == "audio.jambonz.org":
        frame |= {"callSid": base.get("call_id"), "sampleRate": 8000, "mixType": "mono"}
    return frame


def dtmf(digit: str, duration_ms: int) -> dict[str, Any]:
    return {"type": "dtmf", "digit": digit, "duration_ms": duration_ms, "event": "dtmf",
            "dtmf": digit}


def mark_reply(name: str, event: str, played_ms: int) -> dict[str, Any]:
    return {"type": "mark", "name": name, "event": event, "played_ms": played_ms}


def error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def warning(code: str, dropped_ms: int) -> dict[str, Any]:
    return {"type": "warning", "code": code, "dropped_ms": dropped_ms}


def event(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "event", "name": name, "data": data or {}}


def stop(reason: str) -> dict[str, Any]:
    return {"type": "stop", "reason": reason}


def token_refresh(token: str, expires_at: str) -> dict[str, Any]:
    return {"type": "token_refresh", "yotel_callback_token": token, "token_expires_at": expires_at}
