"""Yotel's SIP stack: RFC 3261 over UDP, with SDP offer/answer (RFC 4566/3264) for G.711.

Pure protocol: `message`, `headers`, `address` (URIs, name-addr), `checks`, `digest`,
`transaction`, `dialog` state, `sdp`. I/O: `transport` (the UDP endpoint) and `ua` (the user
agent the media engine drives). The names below are the supported surface.
"""

from yotel.sip.address import NameAddr, SipUri
from yotel.sip.dialog import Dialog, InviteFailed
from yotel.sip.digest import Challenge, DigestCredentials
from yotel.sip.invite import IncomingInvite, OutgoingInvite
from yotel.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from yotel.sip.sdp import (
    Negotiated,
    SdpError,
    SessionDescription,
    accept_answer,
    answer,
    build_offer,
    with_direction,
)
from yotel.sip.transaction import TimerConfig
from yotel.sip.transport import SipStats
from yotel.sip.ua import UserAgent

__all__ = [
    "Challenge",
    "Dialog",
    "DigestCredentials",
    "IncomingInvite",
    "InviteFailed",
    "NameAddr",
    "Negotiated",
    "OutgoingInvite",
    "SdpError",
    "SessionDescription",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipStats",
    "SipUri",
    "TimerConfig",
    "UserAgent",
    "accept_answer",
    "answer",
    "build_offer",
    "parse_message",
    "with_direction",
]
