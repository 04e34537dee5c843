"""Fuzzing the SIP/SDP parsers: whatever the bytes, only ValueError (and subclasses) may escape,
and whatever parses serializes to something that parses back to the same message."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yotel.sip.address import NameAddr, SipUri
from yotel.sip.builder import answer_unparsed
from yotel.sip.checks import merge_key, request_problem
from yotel.sip.digest import Challenge, verify
from yotel.sip.message import SipRequest, parse_message, stamp_via
from yotel.sip.sdp import PCMA, PCMU, SdpError, SessionDescription, answer

from .test_message import SIPP_200, SIPP_INVITE, TORTUOUS
from .test_sdp import PHONE_SDP, SIPP_SDP

FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

SIP_TOKENS = [b"\r\n", b"\n", b"\r\n\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b" ",
              b"\t", b"SIP/2.0", b"Content-Length: 99999", b"l: 3", b"v: ", b"tag=", b"=",
              b"\x00", b"\xff", b"sip:", b"@", b"[", b"]", b"CSeq: 1 ", b"0", b"-1"]


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes], tokens: list[bytes]) -> bytes:
    """A captured message with a handful of byte-level edits: flips, cuts, splices, tokens."""
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.integers(0, 4))
        if op == 0:
            data[at] = draw(st.integers(0, 255))
        elif op == 1:
            del data[at:at + draw(st.integers(1, 40))]
        elif op == 2:
            data[at:at] = draw(st.sampled_from(tokens))
        elif op == 3:
            data[at:at] = draw(st.binary(max_size=20))
        else:
            data = data[:at]
    return bytes(data)


def _parse_or_value_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except ValueError:
        _answered_statelessly_or_dropped(data)
        return
    wire = bytes(message)
    again = parse_message(wire)
    # Serialization normalizes (canonical names, one value per line, exact Content-Length);
    # after that it is a fixed point, and nothing the parser read is lost.
    assert bytes(again) == wire and again.body == message.body
    assert [(n, v) for n, v in again.headers if n != "Content-Length"] == [
        (n, v) for n, v in message.headers if n != "Content-Length"]
    # What the user agent reads from any message it routes must not raise anything but
    # ValueError either.
    _ = message.branch, message.cseq, message.call_id
    assert "received=192.0.2.1" in stamp_via(message.require("Via"), "192.0.2.1", 5060) or \
        "received=" in message.require("Via")
    for name in ("From", "To", "Contact"):
        value = message.headers.get(name)
        if value is not None:
            try:
                NameAddr.parse(value).tag  # noqa: B018
            except ValueError:
                pass
    if isinstance(message, SipRequest):
        try:
            SipUri.parse(message.uri)
        except ValueError:
            pass
        # The UAS's own checks answer (or decline) any parseable request: they never raise.
        request_problem(message)
        merge_key(message)


@FUZZ
@given(mutated([SIPP_INVITE, SIPP_200, TORTUOUS], SIP_TOKENS))
def test_mutated_sip_messages(data: bytes) -> None:
    _parse_or_value_error(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _parse_or_value_error(data)


@FUZZ
@given(st.text(max_size=80), st.sampled_from(["Via", "From", "To", "CSeq", "Contact", "l",
                                               "Record-Route", "Call-ID", "X-Any"]))
def test_random_header_values(value: str, name: str) -> None:
    data = SIPP_INVITE.replace(b"Subject: Performance Test",
                               f"{name}: {value}".encode(errors="surrogatepass"))
    _parse_or_value_error(data)


def _answered_statelessly_or_dropped(data: bytes) -> None:
    # What the UA does with bytes that did not parse never raises, and its stateless answer
    # is no amplifier: never much larger than what was sent (a spoofed source gets no more
    # bytes back than the spoofer spent).
    response = answer_unparsed(data, ("192.0.2.1", 5060), "Bad Request")
    if response is not None:
        assert response.status in (400, 505)
        assert len(bytes(response)) <= len(data) + 200


SDP_TOKENS = [b"\r\n", b"m=audio ", b"c=IN IP4 ", b"a=rtpmap:", b"a=fmtp:", b" ", b"/", b"=",
              b"RTP/AVP", b"0.0.0.0", b"a=sendonly\r\n", b"99999999999999999999", b"\xff"]


@FUZZ
@given(mutated([SIPP_SDP, PHONE_SDP], SDP_TOKENS))
def test_mutated_sdp(data: bytes) -> None:
    try:
        offer = SessionDescription.parse(data)
    except ValueError:
        return
    try:
        ours, result = answer(offer, "10.0.0.1", 4000, [PCMU, PCMA])
    except SdpError:
        return
    assert result.codec in (PCMU, PCMA)
    SessionDescription.parse(bytes(ours))


@FUZZ
@given(st.text(max_size=120))
def test_random_auth_headers(header: str) -> None:
    try:
        Challenge.parse(header)
    except ValueError:
        pass
    assert verify(header, method="INVITE", password="p") in (True, False)
