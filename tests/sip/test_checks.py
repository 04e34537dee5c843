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
    (b"From: <sip:a@10.0.0.2>", b"From: Bob, Jr <sip:a@10.0.0.2>", 400, "Bad From"),
    (b"From: <sip:a@10.0.0.2>", b"From: < sip:a@10.0.0.2 >", 400, "Bad From"),
    (b"From: <sip:a@10.0.0.2>", b'From: "Bob <sip:a@10.0.0.2>', 400, "Bad From"),
    (b"From: <sip:a@10.0.0.2>;tag=1", b"From: <sip:a@10.0.0.2>;;tag=1", 400, "Bad From"),
    (b"<sip:100@10.0.0.1>", b"sip:100@10.0.0.1?x=1", 400, "Bad To"),
    (b"sip:100@10.0.0.1 SIP", b"<sip:100@10.0.0.1> SIP", 400, "Bad Request-URI"),
    (b"sip:100@10.0.0.1 SIP", b"sip:100@10.0.0.1?Route=%3Csip:x%3E SIP", 400, "Bad Request-URI"),
    (b"sip:100@10.0.0.1 SIP", b"soap.beep://192.0.2.103:3002 SIP", 416, "Unsupported URI Scheme"),
    (b"10.0.0.2;branch=z9hG4bK1", b"10.0.0.2;;,;,,", 400, "Bad Via"),
    (b"SIP/2.0/UDP 10.0.0.2", b"SIP/2.0/UDP", 400, "Bad Via"),
    (b"Call-ID: c", b"Call-ID: c\r\nCall-ID: d", 400, "Multiple Call-ID Values"),
    (b"Call-ID: c", b"Call-ID: c\r\nDate: Fri, 01 Jan 2010 16:00:00 EST", 400, "Bad Date"),
    (b"Max-Forwards: 70", b"Max-Forwards: 300", 400, "Bad Max-Forwards"),
    (b"Max-Forwards: 70", b"Max-Forwards: " + b"9" * 5000, 400, "Bad Max-Forwards"),
    (b"Call-ID: c", b"Contact: sip:a@b?Route=%3Csip:x%3E\r\nCall-ID: c", 400, "Bad Contact"),
    (b"Call-ID: c", b"Contact: <tel:+1555>\r\nCall-ID: c", 400, "Bad Contact"),
    (b"INVITE sip:100@10.0.0.1", b"NEWMETHOD sip:100@10.0.0.1", 501, "Not Implemented"),
    (b"INVITE sip:100@10.0.0.1", b"MESSAGE sip:100@10.0.0.1", 400, "CSeq Method Mismatch"),
    (b"Call-ID: c", b"Accept: text/nobodyKnowsThis\r\nCall-ID: c", 406, "Not Acceptable"),
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


def test_sound_unusual_requests_have_no_problem() -> None:
    assert problem(b"From: <sip:a@10.0.0.2>", b"From: <tel:+15551234567>") is None
    assert problem(b"From: <sip:a@10.0.0.2>", b"From: <http://www.example.com>") is None
    assert problem(b"From: <sip:a@10.0.0.2>", b"From: caller<sip:a@10.0.0.2>") is None
    assert problem(b"From: <sip:a@10.0.0.2>;tag=1",
                   b'From: "J \\"R\\"" <sip:a@10.0.0.2> ;\r\n tag = 1') is None
    assert problem(b"10.0.0.2;branch=z9hG4bK1", b"10.0.0.2 ; branch = z9hG4bK1") is None
    assert problem(b"SIP/2.0/UDP", b"SIP  /  2.0 / UDP") is None
    assert problem(b"Call-ID: c", b"Accept: application/sdp, text/plain\r\nCall-ID: c") is None
    assert problem(b"Call-ID: c", b"Date: Sat, 15 Oct 2005 04:44:56 GMT\r\nCall-ID: c") is None
    # Leniencies real phones need: a bare UTF-8 display name, an '_' in a Via host.
    assert problem(b"From: <sip:a@10.0.0.2>", "From: José Núñez <sip:a@10.0.0.2>".encode()) \
        is None
    assert problem(b"SIP/2.0/UDP 10.0.0.2", b"SIP/2.0/UDP my_host.lan:5060") is None


def test_known_methods_not_served_out_of_dialog_get_405_before_their_body_is_judged() -> None:
    found = problem(b"INVITE", b"MESSAGE")  # also its CSeq; a text body would be 415
    assert found is not None and (found.status, found.headers[0][0]) == (405, "Allow")
    found = problem(b"INVITE", b"REGISTER")
    assert found is not None and found.status == 405
    assert problem(b"To: <sip:100@10.0.0.1>", b"To: <sip:100@10.0.0.1>;tag=t") is None


def test_a_request_too_large_to_answer_over_udp_gets_513() -> None:
    found = problem(b"Call-ID: c", b"X-Pad: " + b"x" * 62_000 + b"\r\nCall-ID: c")
    assert found is not None and found.status == 513
