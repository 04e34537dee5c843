"""One SIP leg: its dialog, its RTP session, and the media negotiated between them.

The leg does offer/answer (RFC 3264) for the initial INVITE and every re-INVITE, keeps the RTP
session pointed at what was agreed, and does hold/resume in both directions (RFC 3264 §8.4:
`a=sendonly` to hold the peer, `a=sendrecv` to resume; a peer's hold is answered `recvonly`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from yotel.rtp.session import RtpSession
from yotel.sip.dialog import Dialog
from yotel.sip.sdp import (
    PCMA,
    PCMU,
    Negotiated,
    SdpError,
    SessionDescription,
    accept_answer,
    answer,
    build_offer,
    with_direction,
)

log = logging.getLogger(__name__)
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}
_HELD = {"sendrecv": "sendonly", "recvonly": "inactive", "sendonly": "sendonly",
         "inactive": "inactive"}


def codec_order(encoding: str) -> list[str]:
    """PRODUCT.md §8: the agent's encoding first, the other G.711 law second."""
    return [PCMA, PCMU] if encoding == "pcma" else [PCMU, PCMA]


class Leg:
    def __init__(self, session: RtpSession, *, address: str, encoding: str = "pcmu") -> None:
        self.session = session
        self.address = address  # what our SDP advertises
        self.codecs = codec_order(encoding)
        self.dialog: Dialog | None = None
        self.negotiated: Negotiated | None = None
        self.local: SessionDescription | None = None
        self.held = False  # we hold the peer
        self.on_ended: Callable[[str], None] | None = None
        self.on_remote_hold: Callable[[bool], None] | None = None

    @property
    def encoding(self) -> str:
        """The law on this leg's wire ('pcmu'/'pcma'); before negotiation, our preference."""
        codec = self.negotiated.codec if self.negotiated is not None else self.codecs[0]
        return codec.lower()

    @property
    def remote_hold(self) -> bool:
        return self.negotiated is not None and self.negotiated.on_hold

    # -- initial offer/answer ---------------------------------------------------------------
    def offer(self) -> bytes:
        self.local = build_offer(self.address, self.session.local_port, self.codecs)
        return bytes(self.local)

    def accept_answer(self, data: bytes) -> None:
        """The peer's answer to our offer (raises SdpError: no codec we offered)."""
        if self.local is None:
            raise SdpError("no offer was made")
        self._apply(accept_answer(self.local, SessionDescription.parse(data)))

    def answer(self, data: bytes) -> bytes:
        """Our answer to the peer's offer (raises SdpError; the caller answers 488)."""
        remote = SessionDescription.parse(data)
        sdp, negotiated = answer(remote, self.address, self.session.local_port, self.codecs,
                                 direction=self._answer_direction(remote))
        self.local = sdp
        self._apply(negotiated)
        return bytes(sdp)

    def _answer_direction(self, remote: SessionDescription) -> str:
        ours = _REVERSE[remote.media.direction]
        return _HELD[ours] if self.held else ours

    def _apply(self, negotiated: Negotiated) -> None:
        was_held = self.remote_hold
        self.negotiated = negotiated
        self.session.configure(payload_type=negotiated.payload_type, dtmf_pt=negotiated.dtmf_pt,
                               remote=(negotiated.remote_address, negotiated.remote_port))
        if negotiated.on_hold != was_held and self.on_remote_hold is not None:
            self.on_remote_hold(negotiated.on_hold)

    # -- the dialog ---------------------------------------------------------------------------
    def attach(self, dialog: Dialog) -> None:
        self.dialog = dialog
        dialog.on_reinvite = self._on_reinvite
        dialog.on_terminated = self._terminated
        if dialog.terminated.is_set():
            self._terminated(dialog.end_reason or "ended")

    def _terminated(self, reason: str) -> None:
        if self.on_ended is not None:
            self.on_ended(reason)

    async def _on_reinvite(self, offer: bytes | None) -> bytes:
        """A peer's re-INVITE: answer with the same codec when it is still offered."""
        if offer is None:  # offerless re-INVITE (§14.2): offer what we have
            return self.offer()
        current = self.encoding.upper()
        self.codecs = [current] + [c for c in self.codecs if c != current]
        return self.answer(offer)

    async def hold(self) -> None:
        await self._redirect(True)

    async def unhold(self) -> None:
        await self._redirect(False)

    async def _redirect(self, held: bool) -> None:
        if self.dialog is None or self.local is None:
            raise RuntimeError("the leg is not connected")
        self.held = held
        sdp = with_direction(self.local, "sendonly" if held else "sendrecv")
        reply = await self.dialog.reinvite(bytes(sdp))
        self.local = sdp
        if reply:
            self._apply(accept_answer(sdp, SessionDescription.parse(reply)))

    # -- media ------------------------------------------------------------------------------
    def send_frame(self, payload: bytes) -> None:
        self.session.send_frame(payload)

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        await self.session.send_dtmf(digit, duration_ms)

    async def hangup(self) -> None:
        if self.dialog is not None:
            await self.dialog.bye()

    def close(self) -> None:
        self.session.close()
