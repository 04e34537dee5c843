"""Request sanity checks a UAS applies before acting (RFC 3261 §8.2.1-§8.2.3)."""

from __future__ import annotations

import pytest

from yotel.sip.checks import Problem, merge_key, request_problem
from yotel.sip.message import SipRequest, parse_message

GOOD = (b"INVITE sip:100@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK1\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:a@10.0.0.2>;tag=1\r\nTo: <sip:100@10.0.0.1>\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: 4\r\n\r\nv=0\n")


def problem(old: bytes = b"", new: bytes = b"") -> Problem | None:
    message = parse_message(GOOD.replace(old, new) if old else GOOD)
    assert isinstance(message, SipRequest)
    return request_problem(message)


def test_a_sound_request_has_no_problem() -> None:
    assert problem() is None
    assert problem(b"Content-Type: application/sdp", b"Content-Type: Application/SDP; x=1") \
        is None
    assert problem(b"Content-Type: application/sdp\r\n", b"") is None  # SDP assumed


@pytest.mark.parametrize("old,new,status,reason", [
    (b"sip:100@10.0.0.1 SIP", b"tel:+100 SIP", 416, "Unsupported URI Scheme"),
    (b"sip:100@10.0.0.1 SIP", b"sip:100@ SIP", 400, "Bad Request-URI"),
    (b"1 INVITE", b"1 BYE", 400, "CSeq Method Mismatch"),
    (b"Max-Forwards: 70", b"Max-Forwards: 7x", 400, "Bad Max-Forwards"),
    (b"From: <sip:a@10.0.0.2>", b"From: <tel:1>", 400, "Bad From"),
    (b"To: <sip:100@10.0.0.1>", b"To: <sip:100@10.0.0.1", 400, "Bad To"),
    (b"application/sdp", b"multipart/mixed", 415, "Unsupported Media Type"),
    (b"Call-ID: c", b"Require: 100rel\r\nCall-ID: c", 420, "Bad Extension"),
])
def test_problems(old: bytes, new: bytes, status: int, reason: str) -> None:
    found = problem(old, new)
    assert found is not None
    assert (found.status, found.reason) == (status, reason)


def test_415_and_420_say_what_we_accept() -> None:
    found = problem(b"application/sdp", b"text/plain")
    assert found is not None and found.headers == (("Accept", "application/sdp"),)
    found = problem(b"Call-ID: c", b"Require: 100rel, timer\r\nCall-ID: c")
    assert found is not None and found.headers == (("Unsupported", "100rel, timer"),)


def test_cancel_and_ack_are_never_refused_for_require() -> None:
    for method in (b"CANCEL", b"ACK"):
        data = GOOD.replace(b"Call-ID: c", b"Require: 100rel\r\nCall-ID: c").replace(
            b"INVITE", method).replace(b"Content-Length: 4\r\n\r\nv=0\n", b"Content-Length: 0"
                                       b"\r\n\r\n")
        message = parse_message(data)
        assert isinstance(message, SipRequest)
        assert request_problem(message) is None


def test_merge_key_identifies_out_of_dialog_requests_across_branches() -> None:
    def req(method: str, to: str, from_: str = "<sip:a@h>;tag=f1") -> SipRequest:
        data = (f"{method} sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
                f"From: {from_}\r\nTo: {to}\r\nCall-ID: c9\r\nCSeq: 4 {method}\r\n"
                "Content-Length: 0\r\n\r\n").encode()
        message = parse_message(data)
        assert isinstance(message, SipRequest)
        return message

    assert merge_key(req("INVITE", "<sip:b@h>")) == ("c9", "f1", "4 INVITE")
    assert merge_key(req("INVITE", "<sip:b@h>;tag=t")) is None  # in a dialog
    assert merge_key(req("CANCEL", "<sip:b@h>")) is None
    assert merge_key(req("OPTIONS", "<sip:b@h>", from_="<no uri>")) is None
