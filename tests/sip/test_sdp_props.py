"""Offer/answer as properties (RFC 3264 §6): for any offer we can meet, the answer picks our
first preference the offer carries, mirrors the direction, and both sides read the same result."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yotel.sip.sdp import (
    DIRECTIONS,
    PCMA,
    PCMU,
    SdpError,
    SessionDescription,
    accept_answer,
    answer,
    build_offer,
)

PROPS = settings(max_examples=200, deadline=None, derandomize=True)
MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
          "inactive": "inactive"}
codec_lists = st.lists(st.sampled_from([PCMU, PCMA]), unique=True, max_size=2)
preference_lists = st.lists(st.sampled_from([PCMU, PCMA]), unique=True, min_size=1)


@PROPS
@given(offered=codec_lists, preferences=preference_lists,
       direction=st.sampled_from(DIRECTIONS), dtmf_pt=st.integers(96, 127),
       address=st.sampled_from(["192.0.2.7", "0.0.0.0"]), port=st.integers(1024, 65534))
def test_offer_answer_round_trip(offered: list[str], preferences: list[str], direction: str,
                                 dtmf_pt: int, address: str, port: int) -> None:
    if not offered:  # an offer of telephone-event alone has nothing to talk with
        offer = SessionDescription.parse(bytes(build_offer(address, port, [PCMU])).replace(
            b"RTP/AVP 0 ", b"RTP/AVP ").replace(b"a=rtpmap:0 PCMU/8000\r\n", b""))
        with pytest.raises(SdpError):
            answer(offer, "10.0.0.1", 4000, preferences)
        return
    wire = bytes(build_offer(address, port, offered, direction=direction, dtmf_pt=dtmf_pt))
    offer = SessionDescription.parse(wire)
    common = [c for c in preferences if c in offered]
    if not common:
        with pytest.raises(SdpError):
            answer(offer, "10.0.0.1", 4000, preferences)
        return
    ours, result = answer(offer, "10.0.0.1", 4000, preferences)
    # The answerer's view: our first preference that was offered, their address and events.
    assert result.codec == common[0] and result.dtmf_pt == dtmf_pt
    assert (result.remote_address, result.remote_port) == (address, port)
    assert result.on_hold == (direction in ("sendonly", "inactive") or address == "0.0.0.0")
    # The answer on the wire, read back by the offerer: the same codec and events, our
    # address, the mirrored direction.
    reply = SessionDescription.parse(bytes(ours))
    assert reply.media.direction == MIRROR[direction]
    theirs = accept_answer(offer, reply)
    assert (theirs.codec, theirs.payload_type, theirs.dtmf_pt) == (
        result.codec, result.payload_type, dtmf_pt)
    assert (theirs.remote_address, theirs.remote_port) == ("10.0.0.1", 4000)
