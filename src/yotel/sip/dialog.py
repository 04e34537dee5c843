"""SIP dialogs (RFC 3261 §12): in-dialog requests (BYE, re-INVITE) both ways."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from yotel.sip.address import NameAddr, SipUri, new_branch
from yotel.sip.builder import ALLOW, make_request, make_response
from yotel.sip.digest import DigestCredentials, answer_challenge, may_answer
from yotel.sip.message import SipRequest, SipResponse

log = logging.getLogger(__name__)

Address = tuple[str, int]
ReinviteHandler = Callable[[bytes | None], Awaitable[bytes]]


class InviteFailed(Exception):  # noqa: N818 - reads as what happened to the INVITE
    """An INVITE (initial or re-INVITE) ended with a failure status (or timed out)."""

    def __init__(self, status: int, reason: str, response: SipResponse | None = None) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.response = response


class DialogHost(Protocol):
    """What a dialog needs from its user agent."""

    @property
    def contact(self) -> str: ...

    def via(self, branch: str) -> str: ...

    def send(self, data: bytes, address: Address) -> None: ...

    async def request(self, request: SipRequest, address: Address) -> SipResponse: ...

    async def respond_until_ack(self, dialog: Dialog, request: SipRequest,
                                response: SipResponse, address: Address, *,
                                already_sent: bool = False) -> SipRequest | None: ...

    def forget_dialog(self, dialog: Dialog) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...


@dataclass
class DialogState:
    call_id: str
    local: NameAddr  # our From/To value, with our tag
    remote: NameAddr  # theirs, with their tag
    remote_target: SipUri
    route_set: list[str]
    local_cseq: int
    remote_cseq: int
    peer: Address  # where in-dialog requests go (first route or the target)


class Dialog:
    def __init__(self, host: DialogHost, state: DialogState, *, local_sdp: bytes | None,
                 remote_sdp: bytes | None, caller: bool = False) -> None:
        self._host = host
        self.caller = caller  # we sent the initial INVITE, so we own the Call-ID (§14.1)
        self.state = state
        self.local_sdp = local_sdp
        self.remote_sdp = remote_sdp
        self.on_reinvite: ReinviteHandler | None = None
        # The answer an offerless re-INVITE's ACK carries, to the offer `on_reinvite` returned
        # in our 2xx (§14.2); ValueError: not acceptable, the session goes on as it was.
        self.on_late_answer: Callable[[bytes], None] | None = None
        self.on_terminated: Callable[[str], None] | None = None
        self.terminated = asyncio.Event()
        self.end_reason: str | None = None
        self._lock = asyncio.Lock()  # one re-INVITE of ours at a time (with its retry)
        self._inviting = False  # our re-INVITE transaction is in flight: theirs is glare
        self._answered = asyncio.Event()  # clear while we answer theirs (until its ACK)
        self._answered.set()
        self.ack_wire: bytes | None = None  # our ACK for their 2xx, re-sent on retransmits
        self.credentials: DigestCredentials | None = None  # answers in-dialog challenges

    @property
    def key(self) -> tuple[str, str, str]:
        return self.state.call_id, self.state.local.tag or "", self.state.remote.tag or ""

    @property
    def call_id(self) -> str:
        return self.state.call_id

    def build(self, method: str, body: bytes = b"", *, cseq: int | None = None) -> SipRequest:
        if cseq is None:
            self.state.local_cseq += 1
            cseq = self.state.local_cseq
        uri, routes = request_target(self.state.remote_target, self.state.route_set)
        return make_request(method, uri, via_value=self._host.via(new_branch()),
                            from_=str(self.state.local), to=str(self.state.remote),
                            call_id=self.state.call_id, cseq=cseq, contact=self._host.contact,
                            body=body, routes=routes)

    def end(self, reason: str) -> None:
        if self.terminated.is_set():
            return
        self.end_reason = reason
        self.terminated.set()
        self._host.forget_dialog(self)
        if self.on_terminated is not None:
            self.on_terminated(reason)

    async def bye(self) -> None:
        """Hang up: BYE, and the dialog ends whatever the answer (§15.1.1)."""
        if self.terminated.is_set():
            return
        self.end("local_bye")
        # A timeout does not matter: the dialog is over for us anyway.
        with contextlib.suppress(InviteFailed):
            await self._send("BYE")

    async def _send(self, method: str, body: bytes = b"") -> tuple[SipRequest, SipResponse]:
        """An in-dialog request and its final response; a 401/407 is answered with our
        credentials (§22.2: a new request with CSeq+1), once, or twice for a stale nonce."""
        request = self.build(method, body)
        response = await self._host.request(request, self.state.peer)
        answered = 0
        while (response.status in (401, 407) and self.credentials is not None
               and may_answer(response, answered)):
            try:
                name, value = answer_challenge(response, self.credentials, method, request.uri)
            except ValueError:
                break
            answered += 1
            request = self.build(method, body)
            request.headers.add(name, value)
            response = await self._host.request(request, self.state.peer)
        return request, response

    async def reinvite(self, sdp: bytes) -> bytes:
        """Send a re-INVITE (hold, resume, new media) and return the peer's answer. On glare
        (491, both sides re-INVITEd at once) it retries once after the §14.1 back-off. A 481,
        a 408 or no answer at all ends the dialog (§14.1) before InviteFailed is raised."""
        async with self._lock:
            try:
                request, response = await self._invite(sdp)
                if response.status == 491 and not self.terminated.is_set():
                    # Meanwhile nothing of ours is in flight: their retry may come first.
                    await asyncio.sleep(glare_backoff(self.caller))
                    request, response = await self._invite(sdp)
            except InviteFailed as failure:  # our client transaction timed out
                self._lost(failure.status)
                raise
            if response.status >= 300:
                self._lost(response.status)
                raise InviteFailed(response.status, response.reason, response)
            self._refresh_target(response.headers.get("Contact"), None)
            self._send_ack(request)
            self.local_sdp = sdp
            if response.body:
                self.remote_sdp = response.body
            return response.body

    async def _invite(self, sdp: bytes) -> tuple[SipRequest, SipResponse]:
        # §14.1: not while an INVITE transaction of theirs is still open (not yet ACKed).
        await self._answered.wait()
        self._inviting = True
        try:
            return await self._send("INVITE", sdp)
        finally:
            self._inviting = False

    def _lost(self, status: int) -> None:
        """§12.2.1.2: a 481 means the peer has no such dialog; a 408 (or silence) that it is
        unreachable. Either way the dialog is over; after a timeout a BYE is still attempted
        (§14.1), in the background: it may time out too."""
        if status == 481:
            self.end("dialog_gone")
        elif status == 408:
            self.hang_up("timeout")

    def hang_up(self, reason: str = "local_bye") -> None:
        """End the dialog now; its BYE goes out in the background (nobody awaits the answer,
        which may never come from a peer that is gone)."""
        if not self.terminated.is_set():
            self.end(reason)
            self._host.spawn(self._quiet_bye())

    async def _quiet_bye(self) -> None:
        with contextlib.suppress(InviteFailed):
            await self._send("BYE")

    def _refresh_target(self, contact: str | None, source: Address | None) -> None:
        """§12.2.1.2 / §12.2.2: a target refresh (re-INVITE) moves the remote target to the
        new Contact; where requests go follows unless a route set or NAT decides it."""
        if not contact:
            return
        try:
            target = NameAddr.parse(contact).uri
        except ValueError:
            return  # an unreadable Contact refreshes nothing; the old target still works
        self.state.remote_target = target
        if not self.state.route_set:
            self.state.peer = peer_for([], target, source or self.state.peer,
                                       symmetric=not self.caller)

    def _send_ack(self, invite: SipRequest) -> None:
        ack = self.build("ACK", cseq=invite.cseq[0])
        self.ack_wire = bytes(ack)
        self._host.send(self.ack_wire, self.state.peer)

    def resend_ack(self) -> None:
        if self.ack_wire is not None:
            self._host.send(self.ack_wire, self.state.peer)

    async def handle_request(self, request: SipRequest, source: Address) -> SipResponse | None:
        """An in-dialog request from the peer; returns the response to send (None: handled)."""
        number, method = request.cseq
        if method != "ACK" and number <= self.state.remote_cseq and method != "CANCEL":
            return make_response(request, 500, "CSeq out of order")
        if method != "ACK":
            self.state.remote_cseq = number
        if method == "BYE":
            self.end("remote_bye")
            return make_response(request, 200)
        if method == "INVITE":
            return await self._answer_reinvite(request, source)
        if method in ("OPTIONS", "INFO"):
            return make_response(request, 200)
        return make_response(request, 501)

    async def _answer_reinvite(self, request: SipRequest, source: Address) -> SipResponse | None:
        if self._inviting:  # §14.2: ours is pending too: glare
            return make_response(request, 491)
        if not self._answered.is_set():  # §14.2: theirs is not finished yet
            return make_response(request, 500, extra=[("Retry-After", str(random.randint(0, 10)))])
        self._answered.clear()
        try:
            return await self._negotiate(request, source)
        finally:
            self._answered.set()

    async def _negotiate(self, request: SipRequest, source: Address) -> SipResponse | None:
        offer = request.body or None
        try:
            answer = (await self.on_reinvite(offer) if self.on_reinvite is not None
                      else self.local_sdp or b"")
        except ValueError:  # an offer we cannot accept: the session goes on unchanged
            return make_response(request, 488)
        if offer:
            self.remote_sdp = offer
        self.local_sdp = answer
        self._refresh_target(request.headers.get("Contact"), source)
        response = make_response(request, 200, contact=self._host.contact, body=answer,
                                 extra=[("Allow", ALLOW)])  # §13.3.1.4
        ack = await self._host.respond_until_ack(self, request, response, source)
        if ack is not None and ack.body and not offer:
            self._late_answer(ack.body)
        return None

    def _late_answer(self, answer: bytes) -> None:
        if self.on_late_answer is not None:
            try:
                self.on_late_answer(answer)
            except ValueError:
                log.warning("dialog %s: the answer in the ACK is not acceptable; the session "
                            "goes on as it was", self.call_id)
                return
        self.remote_sdp = answer


def request_target(target: SipUri, route_set: list[str]) -> tuple[str, list[str]]:
    """§12.2.1.1: the Request-URI and Route headers of an in-dialog request. A loose router
    (`;lr`) leaves the target in the Request-URI; a strict (RFC 2543) one takes the
    Request-URI itself, and the target rides at the end of the Route set."""
    if not route_set:
        return str(target), []
    first = NameAddr.parse(route_set[0]).uri
    if first.param("lr") is not None:
        return str(target), list(route_set)
    return str(first), [*route_set[1:], f"<{target}>"]


def peer_for(routes: list[str], target: SipUri, fallback: Address, *,
             symmetric: bool = False) -> Address:
    """Where in-dialog requests go: the first route (§12.2.1.1); for the callee, the address
    the caller's requests come from (symmetric, works behind NAT, cf. RFC 3581); else the
    target's address when it is a literal IP (no RFC 3263 lookups in a dialog)."""
    if routes:
        return NameAddr.parse(routes[0]).uri.address
    if symmetric:
        return fallback
    host, port = target.address
    return (host, port) if _is_ip(host) else fallback


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def glare_backoff(owns_call_id: bool) -> float:
    """§14.1: after a 491, wait 2.1-4 s if we own the Call-ID, else 0-2 s (10 ms units)."""
    return (random.randint(210, 400) if owns_call_id else random.randint(0, 200)) / 100
