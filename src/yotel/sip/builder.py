"""Building requests and responses (RFC 3261 §8.1.1, §8.2.6). No I/O."""

from __future__ import annotations

from collections.abc import Iterable

from yotel.sip.address import new_tag
from yotel.sip.message import Headers, SipRequest, SipResponse

REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request",
    401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 407:
    "Proxy Authentication Required", 408: "Request Timeout", 415: "Unsupported Media Type",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 603: "Decline",
}
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
USER_AGENT = "Yotel/0.1"


def via(host: str, port: int, branch: str) -> str:
    return f"SIP/2.0/UDP {host}:{port};branch={branch};rport"


def make_request(method: str, uri: str, *, via_value: str, from_: str, to: str, call_id: str,
                 cseq: int, contact: str | None = None, body: bytes = b"",
                 content_type: str = "application/sdp", routes: Iterable[str] = (),
                 extra: Iterable[tuple[str, str]] = ()) -> SipRequest:
    headers = Headers()
    headers.add("Via", via_value)
    headers.add("Max-Forwards", "70")
    for route in routes:
        headers.add("Route", route)
    headers.add("From", from_)
    headers.add("To", to)
    headers.add("Call-ID", call_id)
    headers.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        headers.add("Contact", contact)
    headers.add("User-Agent", USER_AGENT)
    for name, value in extra:
        headers.add(name, value)
    if body:
        headers.add("Content-Type", content_type)
    return SipRequest(headers, body, method, uri)


def make_response(request: SipRequest, status: int, reason: str | None = None, *,
                  to_tag: str | None = None, contact: str | None = None, body: bytes = b"",
                  extra: Iterable[tuple[str, str]] = ()) -> SipResponse:
    """§8.2.6.2: Via, From, Call-ID and CSeq are copied; To gets our tag if it has none
    (a fresh one unless `to_tag` is given; never on 100 Trying)."""
    if to_tag is None and status > 100:
        to_tag = new_tag()
    headers = Headers()
    for value in request.headers.get_all("Via"):
        headers.add("Via", value)
    for value in request.headers.get_all("Record-Route"):
        headers.add("Record-Route", value)
    headers.add("From", request.require("From"))
    to = request.require("To")
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.require("CSeq"))
    if contact is not None:
        headers.add("Contact", contact)
    headers.add("Server", USER_AGENT)
    for name, value in extra:
        headers.add(name, value)
    if body:
        headers.add("Content-Type", "application/sdp")
    return SipResponse(headers, body, status, reason or REASONS.get(status, "Unknown"))
