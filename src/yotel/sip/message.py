"""SIP messages (RFC 3261 §7): parse from a datagram, serialize with `bytes(msg)`. No I/O.

Header names are matched case-insensitively and compact forms are expanded (§7.3.3);
comma-separated values of list headers are split into separate entries (§7.3.1) so `Via` and
`Record-Route` can be walked one hop at a time. Folded lines are joined (§7.3.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yotel.sip.headers import (
    COMPACT,
    LIST_HEADERS,
    Headers,
    canonical,
    split_list,
    stamp_via,
    via_param,
)

__all__ = [
    "COMPACT", "MAGIC_COOKIE", "METHODS", "SIP_VERSION", "Headers", "SipMessage", "SipParseError",
    "SipRequest", "SipResponse", "canonical", "parse_message", "split_list", "stamp_via",
    "via_param",
]

SIP_VERSION = "SIP/2.0"
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: branches that are unique across space and time

METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK",
                     "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"})


class SipParseError(ValueError):
    """The bytes are not a SIP message we can read."""


@dataclass
class SipMessage:
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return self.require("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        raw = self.require("CSeq").split()
        if len(raw) != 2 or not raw[0].isdigit():
            raise SipParseError(f"bad CSeq {self.require('CSeq')!r}")
        return int(raw[0]), raw[1].upper()

    def require(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"missing {name} header")
        return value

    def _head_and_body(self, first_line: str) -> bytes:
        lines = [first_line]
        lines += [f"{n}: {v}" for n, v in self.headers if n != "Content-Length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = "OPTIONS"
    uri: str = ""

    def __bytes__(self) -> bytes:
        return self._head_and_body(f"{self.method} {self.uri} {SIP_VERSION}")

    @property
    def branch(self) -> str:
        """The transaction id of §17.2.3: the top Via branch when it has the magic cookie.
        An RFC 2543 peer's branch (or none) is not unique, so its transactions are told apart
        by what its INVITE, ACK and CANCEL share instead: Call-ID, From, CSeq number and the
        top Via's sent-by (§17.2.3, §9.1, §17.1.1.3)."""
        top = self.require("Via")
        branch = via_param(top, "branch") or ""
        if branch.startswith(MAGIC_COOKIE):
            return branch
        sent_by = top.split(";", 1)[0].split()[-1] if top.split(";", 1)[0].split() else ""
        return f"2543|{self.call_id}|{self.require('From')}|{self.cseq[0]}|{sent_by}"


@dataclass
class SipResponse(SipMessage):
    status: int = 200
    reason: str = "OK"

    def __bytes__(self) -> bytes:
        return self._head_and_body(f"{SIP_VERSION} {self.status} {self.reason}")

    @property
    def branch(self) -> str:
        return via_param(self.require("Via"), "branch") or ""


def _unfold(head: str) -> list[str]:
    lines: list[str] = []
    for line in head.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    return lines


def _parse_headers(lines: Iterable[str]) -> Headers:
    headers = Headers()
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise SipParseError(f"malformed header line {line[:60]!r}")
        key = canonical(name)
        value = value.strip()
        values = split_list(value) if key.lower() in LIST_HEADERS and value != "*" else [value]
        for v in values:
            headers.items.append((key, v))
    return headers


def _split_head(data: bytes) -> tuple[str, bytes]:
    # The head ends at the first blank line, CRLF or bare LF: a bare-LF head may carry a
    # CRLF body (SDP), whose own blank line must not be taken for the end of the head.
    ends = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n", b"\n\r\n")
            if (i := data.find(sep)) >= 0]
    if ends:
        index, size = min(ends)
        head, body = data[:index], data[index + size:]
    else:
        head, body = data, b""
    try:
        return head.decode("utf-8"), body
    except UnicodeDecodeError as exc:
        raise SipParseError("header section is not UTF-8") from exc


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one SIP message from a UDP datagram; raise `SipParseError` if it is not one."""
    head, body = _split_head(data.lstrip(b"\r\n"))
    lines = _unfold(head)
    if not lines:
        raise SipParseError("empty message")
    headers = _parse_headers(lines[1:])
    body = _body(headers, body)
    first = lines[0].split(" ", 2)
    if len(first) == 2 and first[0] == SIP_VERSION:
        first.append("")  # a status line without its (optional in practice) Reason-Phrase
    if len(first) == 3 and first[0] == SIP_VERSION:
        if not (first[1].isdigit() and len(first[1]) == 3):
            raise SipParseError(f"bad status line {lines[0][:60]!r}")
        message: SipRequest | SipResponse = SipResponse(headers, body, int(first[1]), first[2])
    elif len(first) == 3 and first[2] == SIP_VERSION and first[0].isalpha() and first[0].isupper():
        message = SipRequest(headers, body, first[0], first[1])
    else:
        raise SipParseError(f"bad start line {lines[0][:60]!r}")
    for name in ("Via", "Call-ID", "CSeq", "From", "To"):
        message.require(name)
    message.cseq  # noqa: B018 - validates the CSeq shape now, not at first use
    return message


def _body(headers: Headers, body: bytes) -> bytes:
    # RFC 3261 §18.3: on UDP a missing Content-Length means the rest of the datagram.
    raw = headers.get("Content-Length")
    if raw is None:
        return body
    if not raw.strip().isdigit():
        raise SipParseError(f"bad Content-Length {raw!r}")
    length = int(raw)
    if length > len(body):
        raise SipParseError("Content-Length is larger than the datagram")
    return body[:length]
