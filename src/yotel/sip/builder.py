"""Building requests and responses (RFC 3261 §8.1.1, §8.2.6). No I/O."""

from __future__ import annotations

from collections.abc import Iterable

from yotel.sip.address import new_tag
from yotel.sip.message import (
    SIP_VERSION,
    Headers,
    SipRequest,
    SipResponse,
    canonical,
    read_request_head,
    stamp_via,
)

REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request",
    401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 407:
    "Proxy Authentication Required", 408: "Request Timeout", 415: "Unsupported Media Type",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported",
    513: "Message Too Large", 603: "Decline",
}
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
USER_AGENT = "Yotel/0.1"


# Headers the stack writes itself; a caller's extra header may not replace or duplicate them.
_OWN_HEADERS = frozenset({"via", "from", "to", "call-id", "cseq", "contact", "max-forwards",
                          "route", "record-route", "content-length", "content-type", "allow",
                          "authorization", "proxy-authorization"})
_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")


def extra_header(name: str, value: str) -> tuple[str, str]:
    """A caller-supplied header (P-Asserted-Identity, X-..., Diversion), checked so that it
    cannot inject lines (CR/LF) or override what the stack owns; ValueError otherwise."""
    if not name or not set(name) <= _TOKEN:
        raise ValueError(f"bad header name {name!r}")
    if canonical(name).lower() in _OWN_HEADERS:
        raise ValueError(f"header {name!r} is set by the SIP stack")
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError(f"header {name!r} value holds a line break")
    return canonical(name), value.strip()


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


def answer_unparsed(data: bytes, source: tuple[str, int], reason: str) -> SipResponse | None:
    """The stateless final response owed to a request `parse_message` refused (RFC 4475
    §3.1.2): 505 for another SIP version, else 400 with `reason`; None for what is no request
    (garbage, a response), for an ACK (never answered, §17.1.1.3) and without a Via to answer
    along. The headers §8.2.6.2 copies are copied where they read, a To tag added."""
    head = read_request_head(data)
    if head is None or head[0].method == "ACK" or not head[0].headers.get("Via"):
        return None
    request, version = head
    headers = Headers()
    for index, value in enumerate(request.headers.get_all("Via")):
        headers.add("Via", stamp_via(value, *source) if index == 0 else value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        found = request.headers.get(name)
        if found is not None:
            tagged = name == "To" and ";tag=" in found.replace(" ", "").lower()
            headers.add(name, found if name != "To" or tagged else f"{found};tag={new_tag()}")
    headers.add("Server", USER_AGENT)
    status = 400 if version == SIP_VERSION else 505
    return SipResponse(headers, b"", status, reason if status == 400 else REASONS[505])
