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
    "SipRequest", "SipResponse", "canonical", "is_token", "parse_message", "read_request_head",
    "split_list", "stamp_via", "via_param", "via_sent_by",
]

SIP_VERSION = "SIP/2.0"
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: branches that are unique across space and time

METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK",
                     "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH"})


# §25.1 token: what a method, a header name and most parameter names are made of.
TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-.!%*_+`'~")
MAX_CSEQ = 2**32 - 1  # §8.1.1.5: the sequence number is a 32-bit unsigned integer


def is_token(text: str) -> bool:
    return bool(text) and set(text) <= TOKEN_CHARS


class SipParseError(ValueError):
    """The bytes are not a SIP message we can read. `reason` is a fixed phrase for the 400 a
    UAS may still send (never the input itself)."""

    def __init__(self, message: str, reason: str = "Bad Request") -> None:
        super().__init__(message)
        self.reason = reason


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
        # (the digit count is checked first: int() refuses strings over 4300 digits)
        if len(raw) != 2 or not (raw[0].isascii() and raw[0].isdigit()) \
                or len(raw[0].lstrip("0")) > 10 or int(raw[0]) > MAX_CSEQ or not is_token(raw[1]):
            raise SipParseError(f"bad CSeq {self.require('CSeq')[:40]!r}", "Bad CSeq")
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
        # A bare magic cookie promises uniqueness but carries no id: fall back to RFC 2543
        # matching rather than lump every such request together (RFC 4475 §3.2.1).
        if branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE):
            return branch
        return f"2543|{self.call_id}|{self.require('From')}|{self.cseq[0]}|{self.sent_by}"

    @property
    def sent_by(self) -> str:
        """The top Via's sent-by (host[:port], lower case, blanks removed)."""
        return via_sent_by(self.require("Via"))

    @property
    def server_key(self) -> str:
        """§17.2.3: a server transaction is matched by branch AND the top Via's sent-by (two
        senders may pick the same branch); the method is matched beside it (ACK → INVITE)."""
        branch = self.branch
        return branch if branch.startswith("2543|") else f"{branch}|{self.sent_by}"


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
        if not sep or not is_token(name.strip()):
            raise SipParseError(f"malformed header line {line[:60]!r}", "Bad Header")
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
    message = _start_line(lines[0], _parse_headers(lines[1:]), body)
    for name in ("Via", "Call-ID", "CSeq", "From", "To"):
        message.require(name)
    message.cseq  # noqa: B018 - validates the CSeq shape now, not at first use
    message.body = _body(message.headers, body)
    return message


def _start_line(line: str, headers: Headers, body: bytes) -> SipRequest | SipResponse:
    first = line.split(" ", 2)
    if len(first) == 2 and first[0] == SIP_VERSION:
        first.append("")  # a status line without its (optional in practice) Reason-Phrase
    if len(first) == 3 and first[0] == SIP_VERSION:
        if not (len(first[1]) == 3 and first[1].isascii() and first[1].isdigit()
                and 100 <= int(first[1]) <= 699):
            raise SipParseError(f"bad status line {line[:60]!r}")
        return SipResponse(headers, body, int(first[1]), first[2])
    # §7.1: Method SP Request-URI SP SIP-Version, single spaces; the method is a token
    # (extension methods may hold '!', '%', '~'..., RFC 4475 §3.1.1.2).
    if len(first) == 3 and first[2] == SIP_VERSION and is_token(first[0]) and first[1]:
        return SipRequest(headers, body, first[0], first[1])
    raise SipParseError(f"bad start line {line[:60]!r}", "Bad Request-Line")


def read_request_head(data: bytes) -> tuple[SipRequest, str] | None:
    """What a UAS needs to answer a request that `parse_message` refused (400, or 505 for
    another SIP version): its method, URI, version and every header line that reads. None when
    the first line is no request line at all (garbage, or a response: never answered)."""
    try:
        head, _ = _split_head(data.lstrip(b"\r\n"))
    except SipParseError:
        return None
    lines = _unfold(head)
    first = lines[0].split() if lines else []
    if len(first) < 3 or not first[-1].upper().startswith("SIP/") or not is_token(first[0]):
        return None
    headers = Headers()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and is_token(name.strip()):
            key, value = canonical(name), value.strip()
            for v in split_list(value) if key.lower() in LIST_HEADERS else [value]:
                headers.items.append((key, v))
    return SipRequest(headers, b"", first[0], first[1]), first[-1]


def via_sent_by(via: str) -> str:
    """sent-by of one Via value: what follows `SIP/2.0/UDP` (blanks allowed around '/',
    RFC 4475 §3.1.1.1), before its parameters."""
    head = via.split(";", 1)[0]
    rest = head.rpartition("/")[2]
    rest = rest.strip()
    parts = rest.split(None, 1)
    return "".join(parts[1].split()).lower() if len(parts) == 2 else ""


def _body(headers: Headers, body: bytes) -> bytes:
    # RFC 3261 §18.3: on UDP a missing Content-Length means the rest of the datagram.
    raw = headers.get("Content-Length")
    if raw is None:
        return body
    if not (raw.strip().isascii() and raw.strip().isdigit()
            and len(raw.strip().lstrip("0")) <= 10):
        raise SipParseError(f"bad Content-Length {raw[:20]!r}", "Bad Content-Length")
    length = int(raw)
    if length > len(body):  # §18.3: on UDP this is a 400, not a wait for more bytes
        raise SipParseError("Content-Length is larger than the datagram", "Bad Content-Length")
    return body[:length]
