"""Sanity checks on a parsed request before a UAS acts on it (RFC 3261 §8.2.1-§8.2.3). No I/O.

A datagram that does not parse at all is answered 400 (505 for another SIP version) when its
request line and Via still read, else dropped (`message.read_request_head`). One that parses but
breaks a rule we can name gets a final response saying which rather than silence, so the peer
stops retransmitting and its operator can see why. The order follows §8.2: a malformed request
is a 400 whatever else is wrong with it (RFC 4475 §3.1.2: never a 415 or 416 for broken
syntax), then the method (501 unknown, 405 not served here), then the Request-URI scheme (416),
extensions (420) and the body (415, 406).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yotel.sip.address import NameAddr, SipUri, is_scheme, uri_headers
from yotel.sip.builder import ALLOW
from yotel.sip.message import METHODS, SipRequest

ACCEPTED_BODY = "application/sdp"
# What a UA core serves outside a dialog; other known methods get 405 (§8.2.1).
SERVED = frozenset({"INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"})
# Our response copies the request's Vias, From, To, Call-ID and CSeq and adds ours (tag,
# Contact, Allow, an SDP body): a request this large could not be answered in one UDP datagram
# (65 507 bytes), so it gets 513 before anything is done (§21.5.4, docs/media.md).
MAX_REQUEST = 65_507 - 4_096
SINGLE = ("Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type",
          "Date")

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# Unquoted display names: tokens, plus UTF-8 letters some phones send bare ("José"): a
# harmless leniency; ',', '"', '<' and '@' stay refused (RFC 4475 §3.1.2.15).
_WORD = r"[A-Za-z0-9\-.!%*_+`'~\u0080-\U0010ffff]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
# generic-param (§25.1): token [ "=" ( token / host / quoted-string ) ], blanks around ; and =
_PARAMS = rf'(?:\s*;\s*{_TOKEN}(?:\s*=\s*(?:{_QUOTED}|[^\s;,"]+))?)*'
# (an '_' in a host name is outside §25.1 but common enough in Vias not to refuse)
_VIA = re.compile(rf"SIP\s*/\s*2\.0\s*/\s*{_TOKEN}\s+(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._]+)"
                  rf"(?:\s*:\s*\d{{1,5}})?{_PARAMS}\s*", re.DOTALL)
# name-addr: an optional display name (quoted, or tokens: never ',' or '"' bare, §25.1), the
# URI in <> with nothing blank inside; addr-spec: a bare URI that holds no ',', '?' or ';'
# (§20.10: those require the brackets), its ';' parameters then belonging to the header.
_NAME_ADDR = re.compile(rf"\s*(?:{_QUOTED}|{_WORD}(?:\s+{_WORD})*)?\s*<(?P<uri>[^\s<>]+)>"
                        rf"{_PARAMS}\s*", re.DOTALL)
_ADDR_SPEC = re.compile(rf'\s*(?P<uri>[^\s<>;,?"]+){_PARAMS}\s*', re.DOTALL)
_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug"
                   r"|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT")  # §20.17: GMT only


@dataclass(frozen=True)
class Problem:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def request_problem(request: SipRequest) -> Problem | None:
    """The response a UAS owes a request it must not process, or None if it looks sound."""
    for check in (_size, _single_values, _vias, _request_uri, _addresses, _contacts,
                  _max_forwards, _date, _method, _cseq_method, _not_served, _uri_scheme,
                  _require, _body, _accept):
        problem = check(request)
        if problem is not None:
            return problem
    return None


def _size(request: SipRequest) -> Problem | None:
    size = len(request.body) + sum(len(n) + len(v) + 4 for n, v in request.headers)
    return Problem(513, "Message Too Large") if size > MAX_REQUEST else None


def _single_values(request: SipRequest) -> Problem | None:
    # RFC 4475 §3.3.8, §3.3.9: two Call-IDs, CSeqs or Content-Lengths make the request
    # ambiguous; which one a peer meant cannot be guessed.
    for name in SINGLE:
        if len(request.headers.get_all(name)) > 1:
            return Problem(400, f"Multiple {name} Values")
    return None


def _vias(request: SipRequest) -> Problem | None:
    if not all(_VIA.fullmatch(via) for via in request.headers.get_all("Via")):
        return Problem(400, "Bad Via")  # §20.42; RFC 4475 §3.1.2.1
    return None


def _request_uri(request: SipRequest) -> Problem | None:
    scheme, sep, _ = request.uri.partition(":")
    if not sep or not is_scheme(scheme) or any(ch in request.uri for ch in '<>"'):
        return Problem(400, "Bad Request-URI")  # RFC 4475 §3.1.2.7: not a URI at all
    if scheme.lower() in ("sip", "sips"):
        try:
            SipUri.parse(request.uri)
        except ValueError:
            return Problem(400, "Bad Request-URI")
        if uri_headers(request.uri):  # §19.1.1 table: no headers in a Request-URI
            return Problem(400, "Bad Request-URI")
    return None


def address_is_valid(value: str) -> bool:
    """A From, To or Contact value that is a well-formed name-addr or addr-spec (§25.1), with
    any URI scheme; the SIP ones must also parse as SIP URIs."""
    match = _NAME_ADDR.fullmatch(value) or _ADDR_SPEC.fullmatch(value)
    if match is None:
        return False
    try:
        SipUri.parse_any(match["uri"])
        NameAddr.parse(value)
    except ValueError:
        return False
    return True


def _addresses(request: SipRequest) -> Problem | None:
    for name in ("From", "To"):
        if not address_is_valid(request.require(name)):
            return Problem(400, f"Bad {name}")
    return None


def _contacts(request: SipRequest) -> Problem | None:
    contacts = request.headers.get_all("Contact")
    if contacts == ["*"] and request.method == "REGISTER":
        return None
    for contact in contacts:
        if not address_is_valid(contact):
            return Problem(400, "Bad Contact")
        # §8.1.1.8: an INVITE's Contact is where the dialog's requests go: a SIP URI.
        if request.method == "INVITE" and not NameAddr.parse(contact).uri.is_sip:
            return Problem(400, "Bad Contact")
    return None


def _max_forwards(request: SipRequest) -> Problem | None:
    value = request.headers.get("Max-Forwards")
    digits = (value or "").lstrip("0")  # leading zeros are fine (RFC 4475 §3.1.1.1)
    if value is not None and not (value.isascii() and value.isdigit() and len(digits) <= 3
                                  and int(value) <= 255):
        return Problem(400, "Bad Max-Forwards")  # §20.22: 0-255
    return None


def _date(request: SipRequest) -> Problem | None:
    value = request.headers.get("Date")
    if value is not None and not _DATE.fullmatch(value):
        return Problem(400, "Bad Date")  # RFC 4475 §3.1.2.10
    return None


def _method(request: SipRequest) -> Problem | None:
    # §8.2.1; RFC 4475 §3.1.2.18: an unknown method is 501 even if its CSeq disagrees.
    if request.method not in METHODS:
        return Problem(501, "Not Implemented", (("Allow", ALLOW),))
    return None


def _cseq_method(request: SipRequest) -> Problem | None:
    # §8.1.1.5: the CSeq method MUST match the request's (methods are case-sensitive).
    if request.require("CSeq").split()[1] != request.method:
        return Problem(400, "CSeq Method Mismatch")
    return None


def _not_served(request: SipRequest) -> Problem | None:
    # §8.2.1: a method we know but do not serve outside a dialog (REGISTER, MESSAGE...).
    if request.method not in SERVED and not NameAddr.parse(request.require("To")).tag:
        return Problem(405, "Method Not Allowed", (("Allow", ALLOW),))
    return None


def _uri_scheme(request: SipRequest) -> Problem | None:
    if request.uri.partition(":")[0].lower() not in ("sip", "sips"):
        return Problem(416, "Unsupported URI Scheme")  # §8.2.2.1
    return None


def _require(request: SipRequest) -> Problem | None:
    # §8.2.2.3: we support no extensions; CANCEL and ACK are never refused for Require.
    tags = request.headers.get_all("Require")
    if tags and request.method not in ("ACK", "CANCEL"):
        return Problem(420, "Bad Extension", (("Unsupported", ", ".join(tags)),))
    return None


def _body(request: SipRequest) -> Problem | None:
    # §8.2.3: a body we cannot read gets 415 with Accept listing what we can.
    content_type = (request.headers.get("Content-Type") or ACCEPTED_BODY).split(";")[0]
    if request.body and content_type.strip().lower() != ACCEPTED_BODY:
        return Problem(415, "Unsupported Media Type", (("Accept", ACCEPTED_BODY),))
    return None


def _accept(request: SipRequest) -> Problem | None:
    # §21.4.7, RFC 4475 §3.3.15: our answer to an INVITE is SDP; a caller that accepts no SDP
    # cannot read it.
    accepted = [a.split(";")[0].strip().lower() for a in request.headers.get_all("Accept")]
    if request.method == "INVITE" and accepted and not {ACCEPTED_BODY, "application/*",
                                                         "*/*"} & set(accepted):
        return Problem(406, "Not Acceptable", (("Accept", ACCEPTED_BODY),))
    return None


def merge_key(request: SipRequest) -> tuple[str, str, str] | None:
    """§8.2.2.2: what identifies a request outside any dialog (no To tag) across branches:
    Call-ID, From tag and CSeq. None inside a dialog, for a CANCEL (it shares its INVITE's
    branch) and for unreadable addresses."""
    try:
        if request.method == "CANCEL" or NameAddr.parse(request.require("To")).tag:
            return None
        from_tag = NameAddr.parse(request.require("From")).tag or ""
    except ValueError:
        return None
    return request.call_id, from_tag, request.require("CSeq")
