"""The two sides of an initial INVITE: `OutgoingInvite` (UAC) and `IncomingInvite` (UAS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from yotel.sip.address import NameAddr, SipUri, new_branch, quote_display
from yotel.sip.builder import ALLOW, extra_header, make_request, make_response
from yotel.sip.dialog import Address, Dialog, DialogState, InviteFailed, peer_for
from yotel.sip.digest import DigestCredentials, answer_challenge, may_answer
from yotel.sip.message import SipRequest, SipResponse
from yotel.sip.transaction import ClientTransaction, ServerTransaction, State

if TYPE_CHECKING:
    from yotel.sip.ua import UserAgent

ProvisionalCallback = Callable[[SipResponse], None]
AnswerOffer = Callable[[bytes], bytes]  # the peer's offer (delayed offer) -> our answer


class OutgoingInvite:
    """A call we place. `await wait_answer()` gives the dialog or raises `InviteFailed`."""

    def __init__(self, ua: UserAgent, request: SipRequest, peer: Address,
                 credentials: DigestCredentials | None,
                 on_provisional: ProvisionalCallback | None,
                 answer_offer: AnswerOffer | None = None) -> None:
        self._ua = ua
        self._answer_offer = answer_offer
        self.request = request
        self.peer = peer
        self._credentials = credentials
        self._on_provisional = on_provisional
        self._auth_answers = 0  # 401/407s answered for this call
        self._final: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()
        self._transaction: ClientTransaction | None = None
        self._provisional_seen = False
        self._cancel_wanted = False  # CANCEL to send once a provisional arrives
        self._cancelled = False  # the caller gave up: a late 200 is acknowledged and hung up
        self.dialog: Dialog | None = None

    @property
    def call_id(self) -> str:
        return self.request.call_id

    def start(self) -> None:
        self._transaction = self._ua.start_client(self.request, self.peer, self._on_response,
                                                  self._on_timeout)

    def _on_timeout(self) -> None:
        self._fail(InviteFailed(408, "Request Timeout"))

    def _fail(self, error: InviteFailed) -> None:
        if not self._final.done():
            self._final.set_exception(error)
            self._final.exception()  # mark retrieved: a caller may never await it

    def _on_response(self, response: SipResponse) -> None:
        if response.status < 200:
            self._provisional_seen = True
            if self._cancel_wanted:
                self._send_cancel()
            if self._on_provisional is not None:
                self._on_provisional(response)
        elif response.status < 300:
            self._answered(response)
        elif response.status in (401, 407) and self._can_authenticate(response):
            self._retry_with_auth(response)
        else:
            self._fail(InviteFailed(response.status, response.reason, response))

    def _can_authenticate(self, response: SipResponse) -> bool:
        return self._credentials is not None and may_answer(response, self._auth_answers)

    def _retry_with_auth(self, response: SipResponse) -> None:
        assert self._credentials is not None
        request = self.request
        try:
            name, value = answer_challenge(response, self._credentials, "INVITE", request.uri)
        except ValueError:
            self._fail(InviteFailed(response.status, response.reason, response))
            return
        self._auth_answers += 1
        headers = request.headers.copy()
        headers.set("Via", self._ua.via(new_branch()))
        headers.set("CSeq", f"{request.cseq[0] + 1} INVITE")  # §22.2: a new request, CSeq+1
        headers.set(name, value)
        self.request = SipRequest(headers, request.body, "INVITE", request.uri)
        self.start()

    def _answered(self, response: SipResponse) -> None:
        if self.dialog is not None:  # a retransmitted 2xx: ACK again (§13.2.2.4)
            self.dialog.resend_ack()
            return
        dialog = self._ua.dialog_from_2xx(self.request, response, self.peer)
        dialog.credentials = self._credentials  # trunks may challenge re-INVITE and BYE too
        body, refusal = self._late_answer(response)
        if body:
            dialog.local_sdp = body
        ack = dialog.build("ACK", body, cseq=self.request.cseq[0])
        dialog.ack_wire = bytes(ack)
        self._ua.send(dialog.ack_wire, dialog.state.peer)
        self.dialog = dialog
        if self._final.done() or self._cancelled:
            # §9.1: the 200 crossed our CANCEL; we no longer want the call, so hang it up.
            refusal = InviteFailed(487, "Request Terminated", response)
        if refusal is not None:
            dialog.hang_up()
            self._fail(refusal)
            return
        self._final.set_result(dialog)

    def _late_answer(self, response: SipResponse) -> tuple[bytes, InviteFailed | None]:
        """§13.2.1: an INVITE without SDP gets the offer in the 2xx; the answer rides the ACK.
        Without `answer_offer`, or when it refuses the offer, the call is ACKed and hung up."""
        if self.request.body or not response.body:
            return b"", None
        try:
            if self._answer_offer is None:
                raise ValueError("no answer_offer for a delayed-offer INVITE")
            return self._answer_offer(response.body), None
        except ValueError as exc:
            return b"", InviteFailed(488, f"Not Acceptable Here: {exc}", response)

    def release(self) -> None:
        """Its call is over: no more progress reports to it (a late 1xx still matches the
        transaction, and goes nowhere)."""
        self._on_provisional = None

    async def wait_answer(self, timeout: float | None = None) -> Dialog:  # noqa: ASYNC109
        """The dialog once answered. On `timeout`, CANCEL and raise InviteFailed(487)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._final), timeout)
        except TimeoutError:
            await self.cancel()
            try:
                return await asyncio.wait_for(asyncio.shield(self._final), 4.0)
            except TimeoutError:
                self._fail(InviteFailed(408, "No Answer"))
                raise InviteFailed(408, "No Answer") from None

    async def cancel(self) -> None:
        """CANCEL before answer (§9.1): only once a provisional response came back."""
        if self._final.done():
            return
        self._cancelled = self._cancel_wanted = True
        if self._provisional_seen:
            self._send_cancel()

    def _send_cancel(self) -> None:
        request = self.request
        headers = request.headers.copy()
        for name in ("Content-Type", "Contact", "Authorization", "Proxy-Authorization"):
            headers.remove(name)
        headers.set("CSeq", f"{request.cseq[0]} CANCEL")
        cancel = SipRequest(headers, b"", "CANCEL", request.uri)
        self._cancel_wanted = False
        self._ua.start_client(cancel, self.peer, lambda _r: None, lambda: None)
        asyncio.get_running_loop().call_later(self._ua.timers.timeout, self._abandon)

    def _abandon(self) -> None:
        """§9.1: no final response 64*T1 after our CANCEL: the INVITE is over for us."""
        if self._transaction is not None and self._transaction.state is State.PROCEEDING:
            self._transaction.terminate()
        self._fail(InviteFailed(408, "Request Timeout"))


class IncomingInvite:
    """A call offered to us. Answer with `ringing()`, then `accept(sdp)` or `reject(code)`."""

    def __init__(self, ua: UserAgent, request: SipRequest, source: Address,
                 transaction: ServerTransaction, to_tag: str) -> None:
        self._ua = ua
        self.request = request
        self.source = source
        self._transaction = transaction
        self.to_tag = to_tag
        self.cancelled = asyncio.Event()
        self.dialog: Dialog | None = None

    @property
    def offer(self) -> bytes | None:
        return self.request.body or None

    @property
    def call_id(self) -> str:
        return self.request.call_id

    @property
    def from_uri(self) -> SipUri:
        return NameAddr.parse(self.request.require("From")).uri

    @property
    def to_uri(self) -> SipUri:
        return SipUri.parse(self.request.uri)

    def _respond(self, status: int, contact: str | None = None,
                 extra: list[tuple[str, str]] | None = None) -> None:
        response = make_response(self.request, status, to_tag=self.to_tag,
                                 contact=contact, extra=extra or ())
        self._transaction.respond(response)
        if status >= 200:
            self._ua.forget_invite(self)

    async def ringing(self) -> None:
        if not self.cancelled.is_set():
            self._respond(180, contact=self._ua.contact)

    async def reject(self, status: int = 486, *, retry_after_s: int | None = None) -> None:
        """A final error response; `retry_after_s` adds Retry-After (§20.33: with 503, when
        to try again)."""
        if not self.cancelled.is_set():
            extra = [("Retry-After", str(retry_after_s))] if retry_after_s is not None else None
            self._respond(status, extra=extra)

    async def accept(self, sdp: bytes) -> Dialog:
        """200 OK with `sdp`, retransmitted until the ACK (§13.3.1.4). With an INVITE that had
        no SDP, `sdp` is our offer and the ACK carries the answer (`dialog.remote_sdp`)."""
        if self.cancelled.is_set():
            raise InviteFailed(487, "Request Terminated")
        dialog = self._ua.dialog_from_invite(self.request, self.to_tag, self.source,
                                             local_sdp=sdp)
        self.dialog = dialog
        response = make_response(self.request, 200, to_tag=self.to_tag,
                                 contact=self._ua.contact, body=sdp,
                                 extra=[("Allow", ALLOW)])  # §13.3.1.4: what we accept next
        self._transaction.respond(response)  # the transaction ends; we retransmit below
        self._ua.forget_invite(self)  # a CANCEL from now on is too late (§9.2): no effect
        ack = await self._ua.respond_until_ack(dialog, self.request, response, self.source,
                                               already_sent=True)
        if ack is None and dialog.end_reason == "remote_bye":
            # The caller hung up before its ACK came (or the ACK was lost): for whoever
            # answered, that is a call the caller abandoned, not a network failure.
            raise InviteFailed(487, "Caller hung up before the ACK")
        if ack is None:
            dialog.hang_up()
            raise InviteFailed(408, "No ACK")
        if self.offer is None and not ack.body:
            # §13.2.1: the offer in our 200 must be answered in the ACK; without an answer
            # there is no session to run, so the call ends here rather than without media.
            dialog.hang_up()
            raise InviteFailed(488, "No SDP answer in the ACK")
        if ack.body:
            dialog.remote_sdp = ack.body
        return dialog

    def on_cancel(self) -> bool:
        """A CANCEL matched this INVITE: 487 unless already answered. True if cancelled."""
        if self.dialog is not None or self.cancelled.is_set():
            return False
        self.cancelled.set()
        self._respond(487)
        return True


def initial_invite(ua: UserAgent, uri: str, from_uri: str, to_uri: str, call_id: str,
                   from_tag: str, sdp: bytes | None, *, display_name: str | None = None,
                   headers: Iterable[tuple[str, str]] = ()) -> SipRequest:
    """The INVITE of a new call; `headers` are the caller's extras (see `extra_header`)."""
    display = quote_display(display_name) if display_name else None
    from_ = NameAddr(SipUri.parse(from_uri), display, (("tag", from_tag),))
    extra = [("Allow", ALLOW), *(extra_header(name, value) for name, value in headers)]
    to = NameAddr(SipUri.parse(to_uri))
    return make_request("INVITE", str(SipUri.parse(uri)), via_value=ua.via(new_branch()),
                        from_=str(from_), to=str(to), call_id=call_id, cseq=1,
                        contact=ua.contact, body=sdp or b"", extra=extra)


def dialog_state_uac(request: SipRequest, response: SipResponse, peer: Address) -> DialogState:
    """§12.1.2: the UAC's view; route set is Record-Route reversed."""
    contact = response.headers.get("Contact")
    target = NameAddr.parse(contact).uri if contact else SipUri.parse(request.uri)
    routes = list(reversed(response.headers.get_all("Record-Route")))
    return DialogState(request.call_id, NameAddr.parse(request.require("From")),
                       NameAddr.parse(response.require("To")), target, routes,
                       request.cseq[0], 0, peer_for(routes, target, peer))


def dialog_state_uas(request: SipRequest, to_tag: str, source: Address) -> DialogState:
    """§12.1.1: the UAS's view; route set is Record-Route as received."""
    contact = request.headers.get("Contact")
    target = NameAddr.parse(contact).uri if contact else NameAddr.parse(
        request.require("From")).uri
    routes = request.headers.get_all("Record-Route")
    local = NameAddr.parse(request.require("To")).with_tag(to_tag)
    return DialogState(request.call_id, local, NameAddr.parse(request.require("From")), target,
                       routes, 0, request.cseq[0], peer_for(routes, target, source,
                                                              symmetric=True))


def hang_up_fork(ua: UserAgent, sibling: Dialog, response: SipResponse) -> None:
    """§13.2.2.4: a 2xx with another To tag than the answer we kept comes from another fork of
    our INVITE (a forking proxy reached two phones). It makes a dialog too: ACK it, then BYE
    it, so that phone stops ringing through 2xx retransmissions and hangs up cleanly."""
    contact = response.headers.get("Contact")
    target = NameAddr.parse(contact).uri if contact else sibling.state.remote_target
    routes = list(reversed(response.headers.get_all("Record-Route")))
    state = DialogState(sibling.call_id, sibling.state.local,
                        NameAddr.parse(response.require("To")), target, routes,
                        response.cseq[0], 0, peer_for(routes, target, sibling.state.peer))
    fork = Dialog(ua, state, local_sdp=None, remote_sdp=response.body or None, caller=True)
    ua.send(bytes(fork.build("ACK", cseq=response.cseq[0])), state.peer)
    fork.hang_up()
