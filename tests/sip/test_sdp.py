"""SDP (RFC 4566) and offer/answer (RFC 3264) for one G.711 audio stream plus RFC 4733 events."""

from __future__ import annotations

import pytest

from yotel.sip.sdp import (
    PCMA,
    PCMU,
    SdpError,
    SessionDescription,
    accept_answer,
    answer,
    build_offer,
    follow,
    with_direction,
)

# sipp's default SDP (captured): a static payload type with no rtpmap at all is still PCMU.
SIPP_SDP = (b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")

# A desk phone style offer: G.722 first, both laws, dynamic telephone-event, a video stream.
PHONE_SDP = b"""v=0
o=- 3912 3913 IN IP4 192.0.2.10
s=Talk
c=IN IP4 192.0.2.10
t=0 0
a=sendrecv
m=audio 7078 RTP/AVP 9 8 0 96
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=ptime:30
m=video 9078 RTP/AVP 97
c=IN IP4 192.0.2.11
a=rtpmap:97 H264/90000
"""


def test_parse_sipp_sdp() -> None:
    sdp = SessionDescription.parse(SIPP_SDP)
    assert (sdp.address, sdp.media.port, sdp.media.payload_types) == ("127.0.0.1", 6000, [0])
    assert sdp.media.codec(0) == PCMU
    assert sdp.media.dtmf_pt() is None
    assert (sdp.session_id, sdp.version) == (53655765, 2353687637)
    assert not sdp.on_hold


def test_parse_phone_offer_with_bare_lf_and_video() -> None:
    sdp = SessionDescription.parse(PHONE_SDP)
    assert sdp.media.payload_types == [9, 8, 0, 96]
    assert sdp.media.codec(9) == "G722"
    assert sdp.media.dtmf_pt() == 96
    assert sdp.media.fmtp[96] == "0-15"
    assert sdp.media.ptime == 30
    # The video stream's c= must not leak into the audio stream's address.
    assert sdp.address == "192.0.2.10"
    assert sdp.other_media == ["m=video 9078 RTP/AVP 97"]


def test_static_payload_type_without_rtpmap() -> None:
    sdp = SessionDescription.parse(SIPP_SDP.replace(b"a=rtpmap:0 PCMU/8000\r\n", b"").replace(
        b"RTP/AVP 0", b"RTP/AVP 8"))
    assert sdp.media.codec(8) == PCMA
    assert sdp.media.codec(18) is None


def test_offer_lists_codecs_in_preference_order_then_telephone_event() -> None:
    offer = build_offer("10.0.0.5", 20000, [PCMA, PCMU])
    text = bytes(offer).decode()
    assert "m=audio 20000 RTP/AVP 8 0 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n" in text
    assert "c=IN IP4 10.0.0.5\r\n" in text and text.startswith("v=0\r\no=")
    assert text.endswith("a=ptime:20\r\na=sendrecv\r\n")
    assert SessionDescription.parse(bytes(offer)) == offer


def test_offer_versions_increase() -> None:
    offer = build_offer("10.0.0.5", 20000, [PCMU], session_id=7)
    held = with_direction(offer, "sendonly")
    assert held.session_id == 7 and held.version == offer.version + 1  # RFC 3264 §8
    assert with_direction(held, "sendonly") == held  # unchanged: the same version
    assert held.media.direction == "sendonly" and offer.media.direction == "sendrecv"
    assert "a=sendonly" in bytes(held).decode()


@pytest.mark.parametrize("preferences,codec,pt", [
    ([PCMU, PCMA], PCMU, 0), ([PCMA, PCMU], PCMA, 8), ([PCMA], PCMA, 8),
])
def test_answer_picks_our_first_preference_the_offer_supports(
        preferences: list[str], codec: str, pt: int) -> None:
    ours, result = answer(SessionDescription.parse(PHONE_SDP), "10.0.0.5", 30000, preferences)
    assert (result.codec, result.payload_type) == (codec, pt)
    assert ours.media.payload_types == [pt, 96]  # the offerer's telephone-event number (§6.1)
    assert ours.media.rtpmap[96] == "telephone-event/8000"
    assert (result.remote_address, result.remote_port, result.dtmf_pt) == ("192.0.2.10", 7078,
                                                                           96)
    text = bytes(ours).decode()
    # §6: a stream we refuse is answered with port 0, never dropped.
    assert "m=video 0 RTP/AVP 97" in text
    assert f"m=audio 30000 RTP/AVP {pt} 96" in text


def test_answer_without_offered_dtmf_has_no_telephone_event() -> None:
    ours, result = answer(SessionDescription.parse(SIPP_SDP), "10.0.0.5", 30000, [PCMA, PCMU])
    assert result.dtmf_pt is None and ours.media.payload_types == [0]
    assert "telephone-event" not in bytes(ours).decode()


def test_no_common_codec() -> None:
    offer = SessionDescription.parse(PHONE_SDP.replace(b"RTP/AVP 9 8 0 96", b"RTP/AVP 9 96"))
    with pytest.raises(SdpError, match="no common codec"):
        answer(offer, "10.0.0.5", 30000, [PCMU, PCMA])


@pytest.mark.parametrize("theirs,ours", [
    ("sendrecv", "sendrecv"), ("sendonly", "recvonly"), ("recvonly", "sendonly"),
    ("inactive", "inactive"),
])
def test_answer_direction_mirrors_offer(theirs: str, ours: str) -> None:
    offer = SessionDescription.parse(SIPP_SDP + f"a={theirs}\r\n".encode())
    sdp, result = answer(offer, "10.0.0.5", 30000, [PCMU])
    assert sdp.media.direction == ours
    assert result.direction == theirs
    assert result.on_hold == (theirs in ("sendonly", "inactive"))


def test_answer_direction_can_be_forced() -> None:
    sdp, _ = answer(SessionDescription.parse(SIPP_SDP), "10.0.0.5", 1, [PCMU],
                    direction="inactive")
    assert sdp.media.direction == "inactive"


def test_session_level_direction_applies_to_media() -> None:
    sdp = SessionDescription.parse(SIPP_SDP.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n"))
    assert sdp.media.direction == "sendonly" and sdp.on_hold


def test_media_level_direction_wins_over_session_level() -> None:
    sdp = SessionDescription.parse(SIPP_SDP.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
                                   + b"a=recvonly\r\n")
    assert sdp.media.direction == "recvonly"


def test_explicit_media_sendrecv_beats_session_sendonly() -> None:
    sdp = SessionDescription.parse(SIPP_SDP.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
                                   + b"a=sendrecv\r\n")
    assert sdp.media.direction == "sendrecv" and not sdp.on_hold


def test_answer_keeps_the_offer_m_line_order() -> None:
    # RFC 3264 §6: the answer has the same number of m= lines, in the same order. Attributes of
    # the video stream (before audio here) must not be read as session or audio attributes.
    offer = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n"
             b"m=video  5000 RTP/AVP 97\r\nc=IN IP4 192.0.2.50\r\na=sendonly\r\n"
             b"m=audio 6000 RTP/AVP 0\r\nc=IN IP4 192.0.2.60\r\n"
             b"m=image 7000 udptl t38\r\n")
    parsed = SessionDescription.parse(offer)
    assert (parsed.address, parsed.media.direction) == ("192.0.2.60", "sendrecv")
    ours, _ = answer(parsed, "10.0.0.5", 30000, [PCMU])
    m_lines = [line for line in bytes(ours).decode().split("\r\n") if line.startswith("m=")]
    assert m_lines == ["m=video 0 RTP/AVP 97", "m=audio 30000 RTP/AVP 0", "m=image 0 udptl t38"]
    assert SessionDescription.parse(bytes(ours)).audio_index == 1


def test_old_style_hold_with_zero_address() -> None:
    # RFC 3264 §8.4 (and RFC 2543 before it): c=0.0.0.0 means hold.
    sdp = SessionDescription.parse(SIPP_SDP.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0"))
    assert sdp.on_hold
    _, result = answer(sdp, "10.0.0.5", 1, [PCMU])
    assert result.on_hold and result.remote_address == "0.0.0.0"


def test_reinvite_moving_media_is_visible_in_the_result() -> None:
    moved = SessionDescription.parse(SIPP_SDP.replace(b"127.0.0.1\r\nt=", b"198.51.100.7\r\nt=")
                                     .replace(b"audio 6000", b"audio 6100"))
    _, result = answer(moved, "10.0.0.5", 1, [PCMU])
    assert (result.remote_address, result.remote_port) == ("198.51.100.7", 6100)


def test_media_level_connection_overrides_session() -> None:
    sdp = SessionDescription.parse(SIPP_SDP + b"c=IN IP4 203.0.113.9/127\r\n")
    assert sdp.address == "203.0.113.9"


def test_accept_answer_reads_the_codec_it_kept() -> None:
    offer = build_offer("10.0.0.5", 20000, [PCMU, PCMA])
    reply, _ = answer(offer, "10.9.9.9", 40000, [PCMA])
    result = accept_answer(offer, SessionDescription.parse(bytes(reply)))
    assert (result.codec, result.payload_type, result.dtmf_pt) == (PCMA, 8, 101)
    assert (result.remote_address, result.remote_port, result.direction) == (
        "10.9.9.9", 40000, "sendrecv")


def test_accept_answer_refuses_a_codec_we_did_not_offer() -> None:
    offer = build_offer("10.0.0.5", 20000, [PCMU])
    reply = SessionDescription.parse(SIPP_SDP.replace(b"RTP/AVP 0", b"RTP/AVP 8").replace(
        b"a=rtpmap:0 PCMU", b"a=rtpmap:8 PCMA"))
    with pytest.raises(SdpError):
        accept_answer(offer, reply)


@pytest.mark.parametrize("data,why", [
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\n", "no audio"),
    (b"v=0\r\nm=audio 5 RTP/AVP 0\r\n", "no c="),
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5\r\n", "bad m="),
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", "bad port"),
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", "number"),
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP zero\r\n", "number"),
    (b"v=0\r\nc=IP4\r\nm=audio 5 RTP/AVP 0\r\n", "bad c="),
    (b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", "number"),
    (b"\xff\xfe", "UTF-8"),
])
def test_bad_sdp(data: bytes, why: str) -> None:
    with pytest.raises(SdpError, match=why):
        SessionDescription.parse(data)


def test_sdp_error_is_a_value_error() -> None:
    assert issubclass(SdpError, ValueError)


def test_non_rtp_audio_stream_is_not_ours() -> None:
    data = SIPP_SDP.replace(b"RTP/AVP 0", b"RTP/SAVP 0")
    with pytest.raises(SdpError, match="no audio"):
        SessionDescription.parse(data)


def test_only_8khz_telephone_event_is_used() -> None:
    offer = SessionDescription.parse(
        SIPP_SDP.replace(b"RTP/AVP 0", b"RTP/AVP 0 100 101")
        + b"a=rtpmap:100 telephone-event/16000\r\na=rtpmap:101 TELEPHONE-EVENT/8000\r\n")
    assert offer.media.dtmf_pt() == 101
    ours, result = answer(offer, "10.0.0.5", 1, [PCMU])
    assert result.dtmf_pt == 101 and ours.media.payload_types == [0, 101]


def test_ipv6_addresses_are_typed_ip6() -> None:
    text = bytes(build_offer("2001:db8::5", 4000, [PCMU])).decode()
    assert "c=IN IP6 2001:db8::5\r\n" in text and " IN IP6 2001:db8::5\r\n" in text
    assert SessionDescription.parse(text.encode()).address == "2001:db8::5"


@pytest.mark.parametrize("codecs", [[], ["G729"], ["pcmu"], [PCMU, "opus"]])
def test_offer_refuses_codecs_it_cannot_carry(codecs: list[str]) -> None:
    with pytest.raises(SdpError, match="PCMU and/or PCMA"):
        build_offer("10.0.0.1", 4000, codecs)


def test_follow_keeps_the_session_and_counts_changes_only() -> None:
    """RFC 3264 §8: one session id for the dialog; the version +1 per changed SDP, the same
    for a re-sent one, whatever the new description's own o= line said."""
    first = build_offer("10.0.0.5", 20000, [PCMU])
    again = follow(first, build_offer("10.0.0.5", 20000, [PCMU]))
    assert (again.session_id, again.version) == (first.session_id, first.version)
    offer = SessionDescription.parse(SIPP_SDP)
    answered, _ = answer(offer, "10.0.0.5", 20000, [PCMU])
    changed = follow(again, answered)
    assert (changed.session_id, changed.version) == (first.session_id, first.version + 1)
    assert follow(None, answered) is answered
    fresh = {build_offer("10.0.0.5", 20000, [PCMU]).session_id for _ in range(20)}
    assert len(fresh) == 20 and all(0 < sid < 1 << 62 for sid in fresh)  # no shared counter


@pytest.mark.parametrize("line,expected", [
    ("a=rtcp:53020", ("192.0.2.10", 53020)),
    ("a=rtcp:53020 IN IP4 126.16.64.4", ("126.16.64.4", 53020)),  # RFC 3605 §2.1 example
    (None, ("192.0.2.10", 7079)),  # RFC 3550 §11: RTP port + 1
])
def test_peer_rtcp_address(line: str | None, expected: tuple[str, int]) -> None:
    text = ("v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
            "m=audio 7078 RTP/AVP 0\r\n" + (f"{line}\r\n" if line else ""))
    offer = SessionDescription.parse(text.encode())
    _, negotiated = answer(offer, "10.0.0.5", 20000, [PCMU])
    assert negotiated.remote_rtcp == expected
