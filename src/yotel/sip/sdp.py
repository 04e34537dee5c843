"""SDP (RFC 4566) and the offer/answer rules Yotel needs (RFC 3264): one audio stream, G.711
PCMU/PCMA and telephone-event (RFC 4733). No I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

PCMU, PCMA = "PCMU", "PCMA"
STATIC_PT = {0: PCMU, 8: PCMA}
PT_OF = {PCMU: 0, PCMA: 8}
DEFAULT_DTMF_PT = 101
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}
FIRST_VERSION = 1


def new_session_id() -> int:
    """RFC 4566 §5.2: a session id unique to this session; random below 2**62 so peers that
    read it as a signed 64-bit number are fine too. It stays for the dialog (RFC 3264 §8)."""
    return random.randrange(1, 1 << 62)


class SdpError(ValueError):
    """Unreadable SDP, or no common codec."""


@dataclass
class MediaDescription:
    port: int
    payload_types: list[int]
    rtpmap: dict[int, str] = field(default_factory=dict)  # pt -> "PCMU/8000"
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    connection: str | None = None
    ptime: int | None = None
    rtcp: tuple[int, str | None] | None = None  # RFC 3605 a=rtcp: port and optional address

    def codec(self, pt: int) -> str | None:
        name = self.rtpmap.get(pt)
        return name.split("/")[0].upper() if name else STATIC_PT.get(pt)

    def dtmf_pt(self) -> int | None:
        """The RFC 4733 telephone-event payload type at 8 kHz (the rate of our G.711 clock;
        a wideband event stream would not match our timestamps)."""
        return next((pt for pt in self.payload_types
                     if self.rtpmap.get(pt, "").lower().startswith("telephone-event/8000")),
                    None)


@dataclass
class SessionDescription:
    origin_address: str
    connection: str
    media: MediaDescription
    session_id: int = 0
    version: int = 0
    other_media: list[str] = field(default_factory=list)  # m= lines we refuse (port 0)
    audio_index: int = 0  # position of the audio m= among all m= lines (RFC 3264 §6 keeps order)

    @property
    def address(self) -> str:
        return self.media.connection or self.connection

    @property
    def on_hold(self) -> bool:
        return self.media.direction in ("sendonly", "inactive") or self.address == "0.0.0.0"

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError("SDP is not UTF-8") from exc
        return _parse(text)

    def __bytes__(self) -> bytes:
        m = self.media
        origin, connection = self.origin_address, self.connection
        lines = ["v=0", f"o=yotel {self.session_id} {self.version} IN {_addrtype(origin)} {origin}",
                 "s=yotel", f"c=IN {_addrtype(connection)} {connection}", "t=0 0",
                 f"m=audio {m.port} RTP/AVP {' '.join(map(str, m.payload_types))}"]
        for pt in m.payload_types:
            if pt in m.rtpmap:
                lines.append(f"a=rtpmap:{pt} {m.rtpmap[pt]}")
            if pt in m.fmtp:
                lines.append(f"a=fmtp:{pt} {m.fmtp[pt]}")
        lines += [f"a=ptime:{m.ptime or 20}", f"a={m.direction}"]
        refused = [_refused(other) for other in self.other_media]
        before, after = refused[:self.audio_index], refused[self.audio_index:]
        return ("\r\n".join(lines[:5] + before + lines[5:] + after) + "\r\n").encode()


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"  # RFC 4566 §5.7


def _refused(m_line: str) -> str:
    kind, _port, rest = m_line.split(" ", 2)
    return f"{kind} 0 {rest}"


def _parse(text: str) -> SessionDescription:
    parser = _Parser()
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if len(line) >= 2 and line[1] == "=":
            parser.line(line[0], line[2:])
    return parser.result()


class _Parser:
    """One pass over the lines; session-level values are those before the first m= line."""

    def __init__(self) -> None:
        self.origin, self.ids = "0.0.0.0", (0, 0)
        self.session_c: str | None = None
        self.session_direction = "sendrecv"
        self.audio: MediaDescription | None = None
        self.audio_direction: str | None = None  # explicit a= on the audio stream
        self.audio_index = 0
        self.others: list[str] = []
        self.in_media = False  # past the first m= line
        self.in_audio = False

    def line(self, kind: str, value: str) -> None:
        if kind == "o":
            parts = value.split()
            if len(parts) >= 6:
                self.origin, self.ids = parts[5], (_int(parts[1]), _int(parts[2]))
        elif kind == "c":
            address = _connection(value)
            if self.in_audio and self.audio is not None:
                self.audio.connection = address
            elif not self.in_media:
                self.session_c = address
        elif kind == "m":
            self.media_line(value)
        elif kind == "a":
            self.attribute(value)

    def media_line(self, value: str) -> None:
        self.in_media, self.in_audio = True, False
        fields = value.split()
        if len(fields) < 4:
            raise SdpError(f"bad m= line {value!r}")
        if fields[0] == "audio" and self.audio is None and "RTP/AVP" in fields[2]:
            self.audio_index, self.in_audio = len(self.others), True
            self.audio = MediaDescription(_port(fields[1]), [_int(pt) for pt in fields[3:]])
        else:
            self.others.append("m=" + " ".join(fields))

    def attribute(self, value: str) -> None:
        if not self.in_media:
            if value in DIRECTIONS:
                self.session_direction = value
        elif self.in_audio and self.audio is not None:
            _attribute(value, self.audio)
            if value in DIRECTIONS:
                self.audio_direction = value

    def result(self) -> SessionDescription:
        if self.audio is None:
            raise SdpError("no audio stream")
        # RFC 4566 §6: a media-level direction overrides the session-level one.
        self.audio.direction = self.audio_direction or self.session_direction
        connection = self.audio.connection or self.session_c
        if connection is None:
            raise SdpError("no c= line")
        return SessionDescription(self.origin, connection, self.audio, self.ids[0], self.ids[1],
                                  self.others, self.audio_index)


def _attribute(value: str, media: MediaDescription) -> None:
    name, _, rest = value.partition(":")
    if name == "rtpmap":
        pt, _, codec = rest.partition(" ")
        media.rtpmap[_int(pt)] = codec.strip()
    elif name == "fmtp":
        pt, _, params = rest.partition(" ")
        media.fmtp[_int(pt)] = params.strip()
    elif name == "ptime":
        media.ptime = _int(rest.strip())
    elif name == "rtcp":
        media.rtcp = _rtcp_attribute(rest)


def _rtcp_attribute(value: str) -> tuple[int, str | None]:
    """RFC 3605 §2.1: `a=rtcp:<port> [IN IP4 <address>]`."""
    parts = value.split()
    if not parts:
        raise SdpError("empty a=rtcp")
    address = parts[3] if len(parts) >= 4 and parts[1] == "IN" else None
    return _port(parts[0]), address


def _int(text: str) -> int:
    if not text.isdigit():
        raise SdpError(f"expected a number, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    port = _int(text.split("/")[0])
    if port > 65535:
        raise SdpError(f"bad port {text!r}")
    return port


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) < 3 or parts[0] != "IN":
        raise SdpError(f"bad c= line {value!r}")
    return parts[2].split("/")[0]


@dataclass(frozen=True)
class Negotiated:
    """What the engine needs from an offer/answer exchange to run RTP."""

    codec: str  # PCMU or PCMA
    payload_type: int
    dtmf_pt: int | None
    remote_address: str
    remote_port: int
    direction: str  # the remote side's direction
    remote_rtcp: tuple[str, int] | None = None  # RFC 3605 a=rtcp, else RTP port + 1 (RFC 3550)

    @property
    def on_hold(self) -> bool:
        return self.direction in ("sendonly", "inactive") or self.remote_address == "0.0.0.0"

    @property
    def peer_receives(self) -> bool:
        """RFC 3264 §6.1: the peer wants our media unless it said sendonly or inactive (or
        the RFC 2543 0.0.0.0 hold)."""
        return not self.on_hold


def build_offer(address: str, port: int, codecs: list[str], *, direction: str = "sendrecv",
                dtmf_pt: int = DEFAULT_DTMF_PT, session_id: int | None = None,
                version: int = FIRST_VERSION) -> SessionDescription:
    """An offer listing `codecs` (in preference order) then telephone-event. Raises SdpError
    for an empty list or a codec other than PCMU/PCMA."""
    if not codecs or any(c not in PT_OF for c in codecs):
        raise SdpError(f"cannot offer {codecs!r}: PCMU and/or PCMA only")
    pts = [PT_OF[c] for c in codecs] + [dtmf_pt]
    rtpmap = {PT_OF[c]: f"{c}/8000" for c in codecs} | {dtmf_pt: "telephone-event/8000"}
    media = MediaDescription(port, pts, rtpmap, {dtmf_pt: "0-16"}, direction, None, 20)
    sid = session_id if session_id is not None else new_session_id()
    return SessionDescription(address, address, media, sid, version)


def answer(offer: SessionDescription, address: str, port: int, preferences: list[str], *,
           direction: str | None = None, session_id: int | None = None,
           version: int = FIRST_VERSION) -> tuple[SessionDescription, Negotiated]:
    """Our answer to `offer` and the result; the first of `preferences` the offer carries wins.
    Raises SdpError when there is no common codec (the caller answers 488)."""
    offered = offer.media
    chosen = next(((c, pt) for c in preferences for pt in offered.payload_types
                   if offered.codec(pt) == c), None)
    if chosen is None:
        raise SdpError("no common codec")
    codec, pt = chosen
    dtmf = offered.dtmf_pt()
    ours = direction or _REVERSE[offered.direction]
    pts = [pt] + ([dtmf] if dtmf is not None else [])
    rtpmap = {pt: f"{codec}/8000"} | ({dtmf: "telephone-event/8000"} if dtmf is not None else {})
    fmtp = {dtmf: "0-16"} if dtmf is not None else {}
    media = MediaDescription(port, pts, rtpmap, fmtp, ours, None, 20)
    sid = session_id if session_id is not None else new_session_id()
    sdp = SessionDescription(address, address, media, sid, version, offer.other_media,
                             offer.audio_index)
    return sdp, negotiated_from(offer, codec, pt, dtmf)


def negotiated_from(remote: SessionDescription, codec: str, pt: int,
                    dtmf_pt: int | None) -> Negotiated:
    media = remote.media
    rtcp_port, rtcp_address = media.rtcp or (media.port + 1, None)
    return Negotiated(codec, pt, dtmf_pt, remote.address, media.port, media.direction,
                      (rtcp_address or remote.address, rtcp_port))


def accept_answer(offer: SessionDescription, remote: SessionDescription) -> Negotiated:
    """Read the peer's answer to our offer: the first codec it kept that we offered."""
    for pt in remote.media.payload_types:
        codec = remote.media.codec(pt)
        if codec in PT_OF and pt in offer.media.payload_types:
            return negotiated_from(remote, codec, pt, remote.media.dtmf_pt())
    raise SdpError("answer has no codec we offered")


def with_direction(sdp: SessionDescription, direction: str) -> SessionDescription:
    """The same description, another direction (hold/resume re-INVITEs); RFC 3264 §8: the
    version rises by one when the direction changes, and stays when it does not."""
    return follow(sdp, replace(sdp, media=replace(sdp.media, direction=direction)))


def follow(previous: SessionDescription | None, new: SessionDescription) -> SessionDescription:
    """`new` as the next SDP of the session `previous` belongs to (RFC 3264 §8): the same
    session id; the same version when nothing else changed (a re-sent description), the
    version + 1 when something did. With no previous SDP, `new` starts the session."""
    if previous is None:
        return new
    same = replace(new, session_id=previous.session_id, version=previous.version)
    if bytes(same) == bytes(previous):
        return same
    return replace(same, version=previous.version + 1)
