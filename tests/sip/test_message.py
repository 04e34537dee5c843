"""SIP message parsing and serialization (RFC 3261 §7, §18.3): captured and crafted bytes."""

from __future__ import annotations

import pytest

from yotel.sip.message import (
    Headers,
    SipParseError,
    SipRequest,
    SipResponse,
    canonical,
    parse_message,
    read_request_head,
    split_list,
    stamp_via,
    via_param,
    via_sent_by,
)

# Captured from sipp 3.6 (`sipp -sn uac`), byte for byte.
SIPP_INVITE = (
    b"INVITE sip:service@127.0.0.1:48970 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:47123;branch=z9hG4bK-18728-1-0\r\n"
    b"From: sipp <sip:sipp@127.0.0.1:47123>;tag=18728SIPpTag001\r\n"
    b"To: service <sip:service@127.0.0.1:48970>\r\n"
    b"Call-ID: 1-18728@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: sip:sipp@127.0.0.1:47123\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: Performance Test\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# Captured from sipp 3.6 (`sipp -sn uas`) answering an INVITE.
SIPP_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:48970;branch=z9hG4bKabc;rport\r\n"
    b"From: <sip:a@127.0.0.1>;tag=111\r\n"
    b"To: <sip:100@127.0.0.1>;tag=18729SIPpTag011\r\n"
    b"Call-ID: cap1@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:127.0.0.1:47125;transport=UDP>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length:   129\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# RFC 4475 §3.1.1.1 "wsinv" (short tortuous INVITE), trimmed of its SDP: compact forms,
# folding, odd case and whitespace everywhere.
TORTUOUS = (
    b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n"
    b"TO :\r\n"
    b" sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n"
    b"from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n"
    b"  ;\r\n"
    b"  tag = 98asjd8\r\n"
    b"MaX-fOrWaRdS: 0068\r\n"
    b"Call-ID: wsinv.ndaksdj@192.0.2.1\r\n"
    b"Content-Length   : 0\r\n"
    b"cseq: 0009\r\n"
    b"  INVITE\r\n"
    b"Via  : SIP  /   2.0\r\n"
    b" /UDP\r\n"
    b"    192.0.2.2;branch=390skdjuw\r\n"
    b"s :\r\n"
    b"NewFangledHeader:   newfangled value\r\n"
    b" continued newfangled value\r\n"
    b"UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n"
    b"m:\"Quoted string \\\"\\\"\"<sip:jdrosen@example.com> ; newparam =\r\n"
    b"      newvalue ;\r\n"
    b"  secondparam ; q = 0.33\r\n"
    b"\r\n"
)


def crafted(extra: str = "", body: bytes = b"", first: str = "OPTIONS sip:a@b SIP/2.0",
            content_length: bool = True) -> bytes:
    head = (f"{first}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
            "From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\n" + extra)
    if content_length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_captured_sipp_invite_parses() -> None:
    msg = parse_message(SIPP_INVITE)
    assert isinstance(msg, SipRequest)
    assert (msg.method, msg.uri) == ("INVITE", "sip:service@127.0.0.1:48970")
    assert msg.branch == "z9hG4bK-18728-1-0"
    assert msg.cseq == (1, "INVITE")
    assert msg.call_id == "1-18728@127.0.0.1"
    assert msg.headers.get("subject") == "Performance Test"
    assert msg.body.startswith(b"v=0\r\n") and len(msg.body) == 129


def test_captured_sipp_response_parses() -> None:
    msg = parse_message(SIPP_200)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (200, "OK")
    assert msg.branch == "z9hG4bKabc"
    assert msg.headers.get("Contact") == "<sip:127.0.0.1:47125;transport=UDP>"


@pytest.mark.parametrize("captured", [SIPP_INVITE, SIPP_200])
def test_round_trip_keeps_every_field(captured: bytes) -> None:
    first = parse_message(captured)
    again = parse_message(bytes(first))
    assert again == first
    # Canonical serialization is a fixed point.
    assert bytes(again) == bytes(first)


def test_serialization_is_crlf_with_exact_content_length() -> None:
    msg = parse_message(SIPP_INVITE)
    wire = bytes(msg)
    head, _, body = wire.partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 129" in head and body == msg.body
    assert b"\n" not in head.replace(b"\r\n", b"")


def test_tortuous_invite_from_rfc_4475() -> None:
    msg = parse_message(TORTUOUS)
    assert isinstance(msg, SipRequest)
    assert msg.cseq == (9, "INVITE")
    assert msg.headers.get("Max-Forwards") == "0068"
    assert "tag    = 1918181833n" in (msg.headers.get("To") or "")
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    assert "secondparam ; q = 0.33" in (msg.headers.get("Contact") or "")
    assert msg.body == b""


@pytest.mark.parametrize("short,full", [
    ("i", "Call-ID"), ("f", "From"), ("t", "To"), ("v", "Via"), ("m", "Contact"),
    ("l", "Content-Length"), ("c", "Content-Type"), ("k", "Supported"), ("s", "Subject"),
    ("e", "Content-Encoding"), ("o", "Event"), ("r", "Refer-To"), ("x", "Session-Expires"),
])
def test_compact_forms_expand(short: str, full: str) -> None:
    assert canonical(short) == full
    assert canonical(short.upper()) == full


def test_compact_message() -> None:
    data = (b"BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKq\r\nf: <sip:x@y>;tag=1\r\n"
            b"t: <sip:a@b>;tag=2\r\ni: abc\r\nCSeq: 2 BYE\r\nm: <sip:x@h>\r\nl: 0\r\n\r\n")
    msg = parse_message(data)
    assert msg.call_id == "abc"
    assert msg.headers.get("contact") == "<sip:x@h>"
    assert b"Call-ID: abc\r\n" in bytes(msg)


def test_names_are_case_insensitive() -> None:
    msg = parse_message(crafted("cOnTaCt: <sip:q@r>\r\nWWW-authenticate: Digest realm=\"x\"\r\n"))
    assert msg.headers.get("CONTACT") == "<sip:q@r>"
    assert msg.headers.get("www-authenticate") == 'Digest realm="x"'
    assert b"WWW-Authenticate: " in bytes(msg)
    assert canonical("x-custom-thing") == "X-Custom-Thing"
    assert canonical("call-id") == "Call-ID" and canonical("CSEQ") == "CSeq"


def test_list_headers_split_outside_quotes_and_brackets() -> None:
    msg = parse_message(crafted(
        'Contact: "Doe, John" <sip:j@x;a=1,2>, <sip:k@y>;q=0.5\r\n'
        "Via: SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2\r\n"
        "Record-Route: <sip:r1;lr>,<sip:r2;lr>\r\nRecord-Route: <sip:r3;lr>\r\n"))
    assert msg.headers.get_all("Contact") == ['"Doe, John" <sip:j@x;a=1,2>', "<sip:k@y>;q=0.5"]
    assert [via_param(v, "branch") for v in msg.headers.get_all("Via")] == [
        "z9hG4bK1", "z9hG4bKp1", "z9hG4bKp2"]
    assert msg.headers.get_all("Record-Route") == ["<sip:r1;lr>", "<sip:r2;lr>", "<sip:r3;lr>"]


def test_auth_headers_are_not_split_on_commas() -> None:
    value = 'Digest realm="a, b", nonce="n", qop="auth,auth-int"'
    msg = parse_message(crafted(f"WWW-Authenticate: {value}\r\n"))
    assert msg.headers.get_all("WWW-Authenticate") == [value]


def test_split_list_handles_escaped_quotes() -> None:
    assert split_list('"a \\", b" <sip:x>, <sip:y>') == ['"a \\", b" <sip:x>', "<sip:y>"]
    assert split_list(" , ,") == []


def test_contact_star_is_kept_whole() -> None:
    msg = parse_message(crafted("Contact: *\r\n"))
    assert msg.headers.get_all("Contact") == ["*"]


def test_content_length_truncates_extra_datagram_bytes() -> None:
    data = crafted(body=b"hello") + b"trailing junk"
    assert parse_message(data).body == b"hello"


def test_missing_content_length_on_udp_means_rest_of_datagram() -> None:
    # RFC 3261 §18.3.
    msg = parse_message(crafted(body=b"v=0\r\n", content_length=False))
    assert msg.body == b"v=0\r\n"


def test_content_length_larger_than_datagram_is_refused() -> None:
    data = crafted("Content-Length: 500\r\n", body=b"short", content_length=False)
    with pytest.raises(SipParseError, match="larger"):
        parse_message(data)


def test_bare_lf_and_leading_crlf_are_tolerated() -> None:
    data = b"\r\n\r\n" + crafted(body=b"x").replace(b"\r\n", b"\n")
    msg = parse_message(data)
    assert msg.cseq == (7, "OPTIONS") and msg.body == b"x"


@pytest.mark.parametrize("blank", [b"\n\n", b"\n\r\n", b"\r\n\r\n"])
def test_head_ends_at_the_first_blank_line_whatever_its_line_ends(blank: bytes) -> None:
    # A bare-LF head with a CRLF SDP body: the body's own blank line is not the separator.
    head = crafted(content_length=False).split(b"\r\n\r\n")[0].replace(b"\r\n", b"\n")
    body = b"v=0\r\n\r\ns=x\r\n"
    msg = parse_message(head + blank + body)
    assert msg.body == body and msg.cseq == (7, "OPTIONS")


def test_folded_header_is_joined() -> None:
    msg = parse_message(crafted("Subject: first\r\n\tsecond\r\n  third\r\n"))
    assert msg.headers.get("Subject") == "first second third"


def test_response_with_multiword_reason() -> None:
    msg = parse_message(crafted(first="SIP/2.0 481 Call/Transaction Does Not Exist"))
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (481, "Call/Transaction Does Not Exist")


def test_status_line_without_reason_phrase() -> None:
    msg = parse_message(crafted(first="SIP/2.0 180"))
    assert isinstance(msg, SipResponse) and (msg.status, msg.reason) == (180, "")


def test_binary_body_survives() -> None:
    body = bytes(range(256))
    assert parse_message(bytes(parse_message(crafted(body=body)))).body == body


@pytest.mark.parametrize("data,why", [
    (b"", "empty"),
    (b"\r\n\r\n", "empty"),
    (b"hello world\r\n\r\n", "start line"),
    (b"INVITE sip:a@b SIP/3.0\r\n\r\n", "start line"),
    (b"SIP/2.0 20 OK\r\n\r\n", "status line"),
    (b"SIP/2.0 abc OK\r\n\r\n", "status line"),
    (b"SIP/2.0 700 Too big\r\n\r\n", "status line"),
    (b"SIP/2.0 4294967301 better not break the receiver\r\n\r\n", "status line"),
    (b"SIP/2.0 " + b"9" * 5000 + b" OK\r\n\r\n", "status line"),  # int() refuses > 4300 digits
    (b"INVITE  sip:a@b SIP/2.0\r\n\r\n", "start line"),
    (b"INVITE sip:a@b SIP/2.0 \r\n\r\n", "start line"),
    (b"IN VITE sip:a@b SIP/2.0\r\n\r\n", "start line"),
    (b"INV\"ITE sip:a@b SIP/2.0\r\n\r\n", "start line"),
])
def test_bad_start_lines(data: bytes, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_message(data)


@pytest.mark.parametrize("name", ["Via", "Call-ID", "CSeq", "From", "To"])
def test_mandatory_headers(name: str) -> None:
    data = crafted()
    lines = [line for line in data.split(b"\r\n") if not line.lower().startswith(
        name.lower().encode() + b":")]
    with pytest.raises(SipParseError, match=f"missing {name}"):
        parse_message(b"\r\n".join(lines))


@pytest.mark.parametrize("extra,why", [
    ("No colon here\r\n", "malformed header"),
    ("Bad Name: x\r\n", "malformed header"),
    (": empty name\r\n", "malformed header"),
    ("Content-Length: -1\r\n", "Content-Length"),
    ("Content-Length: ten\r\n", "Content-Length"),
    ("Content-Length: " + "1" * 5000 + "\r\n", "Content-Length"),
])
def test_bad_headers(extra: str, why: str) -> None:
    with pytest.raises(SipParseError, match=why):
        parse_message(crafted(extra, content_length=False))


@pytest.mark.parametrize("cseq", ["x INVITE", "1", "1 INVITE extra", "", "4294967296 OPTIONS",
                                  "1 OPT<IONS", "9" * 5000 + " OPTIONS"])
def test_bad_cseq(cseq: str) -> None:
    data = crafted().replace(b"CSeq: 7 OPTIONS", f"CSeq: {cseq}".encode())
    with pytest.raises(SipParseError, match="CSeq"):
        parse_message(data)


def test_non_utf8_header_is_a_parse_error() -> None:
    data = crafted().replace(b"Call-ID: c1", b"Call-ID: c\xff1")
    with pytest.raises(SipParseError, match="UTF-8"):
        parse_message(data)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(SipParseError, ValueError)


def test_headers_mutation() -> None:
    headers = Headers()
    headers.add("via", "a")
    headers.add("v", "b")
    headers.prepend("Via", "first")
    assert headers.get_all("Via") == ["first", "a", "b"]
    headers.set("VIA", "only")
    assert headers.get_all("Via") == ["only"]
    copy = headers.copy()
    copy.remove("Via")
    assert headers.get("Via") == "only" and copy.get("Via") is None
    assert copy.get("Via", "default") == "default"
    assert list(headers) == [("Via", "only")]


def test_via_param() -> None:
    via = "SIP/2.0/UDP h:5060;Branch=z9hG4bKx;rport;received=1.2.3.4"
    assert via_param(via, "branch") == "z9hG4bKx"
    assert via_param(via, "rport") == ""
    assert via_param(via, "received") == "1.2.3.4"
    assert via_param(via, "maddr") is None


@pytest.mark.parametrize("via,source,expected", [
    ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx", ("10.0.0.1", 5060),
     "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx"),
    ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx", ("203.0.113.5", 40000),
     "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;received=203.0.113.5"),
    ("SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bKx", ("203.0.113.5", 40000),
     "SIP/2.0/UDP 10.0.0.1;rport=40000;branch=z9hG4bKx;received=203.0.113.5"),
    ("SIP/2.0/UDP pbx.example;branch=z9hG4bKx;rport", ("192.0.2.7", 5062),
     "SIP/2.0/UDP pbx.example;branch=z9hG4bKx;rport=5062;received=192.0.2.7"),
    ("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx", ("2001:db8::1", 5060),
     "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKx"),
    ("SIP/2.0/UDP h;branch=z9hG4bKx;received=1.1.1.1", ("2.2.2.2", 1),
     "SIP/2.0/UDP h;branch=z9hG4bKx;received=1.1.1.1"),
    ("SIP/2.0/UDP h;rport=7;branch=z9hG4bKx", ("h", 9), "SIP/2.0/UDP h;rport=7;branch=z9hG4bKx"),
])
def test_stamp_via(via: str, source: tuple[str, int], expected: str) -> None:
    # RFC 3261 §18.2.1 (received) and RFC 3581 §4 (rport).
    assert stamp_via(via, *source) == expected


def test_replace_first_keeps_position_and_later_values() -> None:
    headers = Headers([("Via", "a"), ("From", "f"), ("Via", "b")])
    headers.replace_first("v", "A")
    assert headers.items == [("Via", "A"), ("From", "f"), ("Via", "b")]


def test_branch_without_magic_cookie_is_keyed_by_what_rfc_2543_requests_share() -> None:
    invite = parse_message(crafted(first="INVITE sip:a@b SIP/2.0").replace(
        b";branch=z9hG4bK1", b"").replace(b"7 OPTIONS", b"7 INVITE"))
    cancel = parse_message(crafted(first="CANCEL sip:a@b SIP/2.0").replace(
        b";branch=z9hG4bK1", b";branch=old").replace(b"7 OPTIONS", b"7 CANCEL"))
    other = parse_message(crafted(first="INVITE sip:a@b SIP/2.0").replace(
        b";branch=z9hG4bK1", b"").replace(b"7 OPTIONS", b"8 INVITE"))
    assert isinstance(invite, SipRequest) and isinstance(cancel, SipRequest)
    assert isinstance(other, SipRequest)
    assert invite.branch == cancel.branch != other.branch
    assert invite.branch.startswith("2543|c1|")
    assert parse_message(crafted()).branch == "z9hG4bK1"  # a cookie branch is used as is


@pytest.mark.parametrize("method", ["invite", "!interesting-Method0123456789_*+`.%indeed'~",
                                    "RE%47IST%45R"])
def test_an_extension_method_is_any_token(method: str) -> None:
    # §7.1, §25.1: methods are case-sensitive tokens; an unknown one is for the UA to refuse
    # (501), not for the parser to drop (RFC 4475 §3.1.1.2, §3.1.1.5).
    data = crafted().replace(b"OPTIONS", method.encode())
    message = parse_message(data)
    assert isinstance(message, SipRequest) and message.method == method


@pytest.mark.parametrize("data,version", [
    (b"OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/7.0/UDP h;branch=z9hG4bK1\r\nl: 0\r\n\r\n", "SIP/7.0"),
    (b"INVITE  sip:a@b  SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nBad Name: x\r\n\r\n", "SIP/2.0"),
])
def test_a_refused_request_head_is_still_read_for_its_error_response(data: bytes,
                                                                     version: str) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)
    head = read_request_head(data)
    assert head is not None
    request, seen = head
    assert seen == version and request.uri == "sip:a@b" and request.headers.get("Via")


@pytest.mark.parametrize("data", [b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n", b"\x00\xffjunk",
                                  b"hello\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"])
def test_responses_and_garbage_have_no_request_head(data: bytes) -> None:
    assert read_request_head(data) is None


@pytest.mark.parametrize("via,sent_by", [
    ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", "10.0.0.1:5060"),
    ("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw", "192.0.2.2"),
    ("SIP/2.0/UDP [2001:db8::1]:5062;rport", "[2001:db8::1]:5062"),
    ("SIP/2.0/UDP Host.Example.COM", "host.example.com"),
])
def test_via_sent_by(via: str, sent_by: str) -> None:
    assert via_sent_by(via) == sent_by
