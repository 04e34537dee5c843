"""One SIP leg: its dialog, its RTP session, and the media negotiated between them.

The leg does offer/answer (RFC 3264) for the initial INVITE and every re-INVITE, keeps the RTP
session pointed at what was agreed, and does hold/resume in both directions (RFC 3264 §8.4:
`a=sendonly` (music) or `a=inactive` to hold the peer, `a=sendrecv` to resume; a peer's hold is
answered `recvonly`). The negotiated directions decide whether its RTP session may send at all
(RFC 3264 §6.1). Every SDP it sends belongs to one session: one `o=` session id, the version +1
for each changed description and the same for a re-sent one (RFC 3264 §8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from yotel.rtp.quality import CallQuality
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
    follow,
)

log = logging.getLogger(__name__)
_REVERSE = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly",
            "inactive": "inactive"}
_HELD = {"sendrecv": "sendonly", "recvonly": "inactive", "sendonly": "sendonly",
         "inactive": "inactive"}
_WE_SEND = ("sendrecv", "sendonly")
HOLD_DIRECTIONS = ("sendonly", "inactive")


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
        self.held = False  # we hold the peer (changed only once the peer agreed)
        self.hold_direction = "sendonly"  # how: sendonly (music on hold) or inactive
        self._sent: SessionDescription | None = None  # the last SDP we sent: its o= line
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

    @property
    def quality(self) -> CallQuality:
        """RTCP figures of this leg (RFC 3550 §6.4): loss, jitter, round-trip time."""
        return self.session.quality

    @property
    def may_send(self) -> bool:
        """RFC 3264 §6.1: our SDP says we send (sendrecv/sendonly) and the peer's says it
        receives (sendrecv/recvonly, not 0.0.0.0)."""
        ours = self.local.media.direction if self.local is not None else "sendrecv"
        theirs = self.negotiated is None or not self.negotiated.on_hold
        return ours in _WE_SEND and theirs

    def _stamp(self, sdp: SessionDescription) -> SessionDescription:
        """RFC 3264 §8: the o= line of the next SDP we send in this session."""
        self._sent = follow(self._sent, sdp)
        return self._sent

    def _set_local(self, sdp: SessionDescription) -> None:
        self.local = sdp
        self.session.may_send = self.may_send

    # -- initial offer/answer ---------------------------------------------------------------
    def offer(self) -> bytes:
        direction = self.hold_direction if self.held else "sendrecv"
        sdp = self._stamp(build_offer(self.address, self.session.local_port, self.codecs,
                                      direction=direction))
        self._set_local(sdp)
        return bytes(sdp)

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
        self.local = self._stamp(sdp)
        self._apply(negotiated)
        return bytes(self.local)

    def _answer_direction(self, remote: SessionDescription) -> str:
        ours = _REVERSE[remote.media.direction]
        if not self.held:
            return ours
        return _HELD[ours] if self.hold_direction == "sendonly" else "inactive"

    def _apply(self, negotiated: Negotiated) -> None:
        was_held = self.remote_hold
        self.negotiated = negotiated
        self.session.configure(payload_type=negotiated.payload_type, dtmf_pt=negotiated.dtmf_pt,
                               remote=(negotiated.remote_address, negotiated.remote_port),
                               rtcp=negotiated.remote_rtcp)
        self.session.may_send = self.may_send
        if negotiated.on_hold != was_held and self.on_remote_hold is not None:
            self.on_remote_hold(negotiated.on_hold)

    # -- the dialog ---------------------------------------------------------------------------
    def attach(self, dialog: Dialog) -> None:
        self.dialog = dialog
        dialog.on_reinvite = self._on_reinvite
        dialog.on_late_answer = self.accept_answer  # after an offerless re-INVITE
        dialog.on_terminated = self._terminated
        if dialog.terminated.is_set():
            self._terminated(dialog.end_reason or "ended")

    def _terminated(self, reason: str) -> None:
        if self.on_ended is not None:
            self.on_ended(reason)

    async def _on_reinvite(self, offer: bytes | None) -> bytes:
        """A peer's re-INVITE: answer with the same codec when it is still offered."""
        if offer is None:  # offerless re-INVITE (§14.2): offer what we have
            return self._reoffer()
        current = self.encoding.upper()
        self.codecs = [current] + [c for c in self.codecs if c != current]
        return self.answer(offer)

    def _reoffer(self) -> bytes:
        """The session we have, in the direction we want: unchanged, the same o= version."""
        if self.local is None:
            return self.offer()
        direction = self.hold_direction if self.held else "sendrecv"
        sdp = self._stamp(self._directed(direction))
        self._set_local(sdp)
        return bytes(sdp)

    def _directed(self, direction: str) -> SessionDescription:
        assert self.local is not None
        return replace(self.local, media=replace(self.local.media, direction=direction))

    async def hold(self, direction: str = "sendonly") -> None:
        """Hold the peer: `sendonly` keeps our audio (music on hold) going, `inactive` stops
        it. Raises InviteFailed when the peer refuses; the leg then stays as it was."""
        if direction not in HOLD_DIRECTIONS:
            raise ValueError(f"hold is sendonly or inactive, not {direction!r}")
        await self._redirect(True, direction)

    async def unhold(self) -> None:
        await self._redirect(False, "sendrecv")

    async def _redirect(self, held: bool, direction: str) -> None:
        if self.dialog is None or self.local is None:
            raise RuntimeError("the leg is not connected")
        sdp = self._stamp(self._directed(direction))
        # Nothing changes before the peer agreed: a refusal (488, 491 twice, a timeout)
        # propagates and leaves us as we were (RFC 3264 §8: the old session stays).
        reply = await self.dialog.reinvite(bytes(sdp))
        self.held = held
        if held:
            self.hold_direction = direction
        self._set_local(sdp)
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

    def release(self) -> None:
        """The call is over and told: drop the callbacks that point back at its owner and the
        dialog's hooks into us, so the call's objects are freed by reference counting."""
        self.on_ended = self.on_remote_hold = None
        if self.dialog is not None:
            self.dialog.on_reinvite = self.dialog.on_late_answer = None
            self.dialog.on_terminated = None
