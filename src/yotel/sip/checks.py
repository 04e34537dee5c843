"""Sanity checks on a parsed request before a UAS acts on it (RFC 3261 §8.2.1-§8.2.3). No I/O.

A datagram that does not parse at all is dropped by the user agent; one that parses but breaks a
rule we can name gets a final response saying which (400, 415, 416, 420) rather than silence, so
the peer stops retransmitting and its operator can see why.
"""

from __future__ import annotations

from dataclasses import dataclass

from yotel.sip.address import NameAddr, SipUri
from yotel.sip.message import SipRequest

ACCEPTED_BODY = "application/sdp"


@dataclass(frozen=True)
class Problem:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


def request_problem(request: SipRequest) -> Problem | None:
    """The response a UAS owes a request it must not process, or None if it looks sound."""
    for check in (_request_uri, _cseq_method, _max_forwards, _addresses, _body, _require):
        problem = check(request)
        if problem is not None:
            return problem
    return None


def _request_uri(request: SipRequest) -> Problem | None:
    scheme = request.uri.partition(":")[0].lower()
    if scheme not in ("sip", "sips"):
        return Problem(416, "Unsupported URI Scheme")  # §8.2.2.1
    try:
        SipUri.parse(request.uri)
    except ValueError:
        return Problem(400, "Bad Request-URI")
    return None


def _cseq_method(request: SipRequest) -> Problem | None:
    # §8.1.1.5: the CSeq method MUST match the request's.
    if request.cseq[1] != request.method:
        return Problem(400, "CSeq Method Mismatch")
    return None


def _max_forwards(request: SipRequest) -> Problem | None:
    value = request.headers.get("Max-Forwards")
    if value is not None and not (value.isascii() and value.strip().isdigit()):
        return Problem(400, "Bad Max-Forwards")
    return None


def _addresses(request: SipRequest) -> Problem | None:
    for name in ("From", "To"):
        try:
            NameAddr.parse(request.require(name))
        except ValueError:
            return Problem(400, f"Bad {name}")
    return None


def _body(request: SipRequest) -> Problem | None:
    # §8.2.3: a body we cannot read gets 415 with Accept listing what we can.
    content_type = (request.headers.get("Content-Type") or ACCEPTED_BODY).split(";")[0]
    if request.body and content_type.strip().lower() != ACCEPTED_BODY:
        return Problem(415, "Unsupported Media Type", (("Accept", ACCEPTED_BODY),))
    return None


def _require(request: SipRequest) -> Problem | None:
    # §8.2.2.3: we support no extensions; CANCEL and ACK are never refused for Require.
    tags = request.headers.get_all("Require")
    if tags and request.method not in ("ACK", "CANCEL"):
        return Problem(420, "Bad Extension", (("Unsupported", ", ".join(tags)),))
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
