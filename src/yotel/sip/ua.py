"""The SIP user agent: one UDP socket, transactions, dialogs, and the INVITE entry points.

Everything that arrives comes parsed from the `UdpTransport` (which counts and drops bad bytes,
and whatever this module refuses with ValueError) to `_on_message`: a response goes to its
client transaction (by Via branch and CSeq method, §17.1.3); a request goes to its server
transaction (by branch, sent-by and method, §17.2.3), its dialog, or is new (§12.2.2). A
datagram that does not parse comes to `_on_malformed`, which answers 400 or 505 statelessly
when the request line and Via still read (RFC 4475 §3.1.2), else it is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from yotel.aio.scope import ScopeClosed, TaskScope
from yotel.sip.address import NameAddr, SipUri, new_branch, new_call_id, new_tag
from yotel.sip.builder import ALLOW, answer_unparsed, make_request, make_response, via
from yotel.sip.checks import request_problem
from yotel.sip.dialog import Address, Dialog, InviteFailed
from yotel.sip.digest import DigestCredentials
from yotel.sip.invite import (
    AnswerOffer,
    IncomingInvite,
    OutgoingInvite,
    ProvisionalCallback,
    dialog_state_uac,
    dialog_state_uas,
    hang_up_fork,
    initial_invite,
)
from yotel.sip.message import SipParseError, SipRequest, SipResponse, stamp_via
from yotel.sip.transaction import (
    ClientTable,
    ClientTransaction,
    LoopTimers,
    ServerTable,
    ServerTransaction,
    State,
    TimerConfig,
)
from yotel.sip.transport import SipStats, UdpTransport, resolve

__all__ = ["InviteHandler", "SipStats", "UserAgent"]

log = logging.getLogger(__name__)
InviteHandler = Callable[[IncomingInvite], Awaitable[None]]
# A new INVITE's first check (admission control): None to proceed, or the status and extra
# headers of a refusal sent statelessly (§8.2.7), before any transaction or task exists.
InviteScreen = Callable[[SipRequest, Address], "tuple[int, list[tuple[str, str]]] | None"]


class UserAgent:
    def __init__(self, host: str = "127.0.0.1", port: int = 5060, *,
                 on_invite: InviteHandler | None = None, timers: TimerConfig | None = None,
                 advertised_host: str | None = None, user: str = "yotel") -> None:
        self.host, self.port = host, port
        self.advertised_host = advertised_host or host
        self.on_invite = on_invite
        self.screen_invite: InviteScreen | None = None
        self.timers = timers or TimerConfig()
        self.user = user
        self.stats = SipStats()
        self._transport = UdpTransport(self._on_message, self.stats,
                                       on_malformed=self._on_malformed)
        self._loop_timers = LoopTimers()
        self._clients = ClientTable()
        self._servers = ServerTable(self._loop_timers, self.timers)
        self._invites: dict[str, IncomingInvite] = {}  # by INVITE server_key, for CANCEL
        self._dialogs: dict[tuple[str, str, str], Dialog] = {}
        self._ack_waiters: dict[tuple[str, int], asyncio.Future[SipRequest]] = {}
        self._scope = TaskScope("sip-ua")  # the UA's handler tasks (INVITEs, BYEs in flight)

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        _, self.port = await self._transport.open(self.host, self.port)

    async def close(self) -> None:
        await self._scope.close()
        # Whoever waits on a request or a dialog hears about it rather than hanging on.
        for client in self._clients.all():
            client.transport_error()
        for server in self._servers.all():
            server.terminate()
        for dialog in list(self._dialogs.values()):
            dialog.end("ua_closed")
        self._transport.close()

    async def __aenter__(self) -> UserAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def local_address(self) -> Address:
        return self.host, self.port

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self.advertised_host}:{self.port}>"

    @property
    def dialogs(self) -> list[Dialog]:
        return list(self._dialogs.values())

    def census(self) -> dict[str, int]:
        """How much state the UA holds (leak checks, metrics)."""
        return {"client_transactions": len(self._clients), "server_transactions":
                len(self._servers), "invites": len(self._invites), "origins":
                self._servers.origins, "ack_waiters": len(self._ack_waiters),
                "dialogs": len(self._dialogs), "tasks": self._scope.tasks}

    def via(self, branch: str) -> str:
        return via(self.advertised_host, self.port, branch)

    def send(self, data: bytes, address: Address) -> None:
        self._transport.send(data, address)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A handler task (failures are logged by the scope); after close, nothing starts."""
        try:
            self._scope.spawn(coro, name="sip-handler")
        except ScopeClosed:
            log.debug("sip handler not started: the user agent is closed")

    # -- transactions ----------------------------------------------------------------------
    def start_client(self, request: SipRequest, peer: Address,
                     on_response: Callable[[SipResponse], None],
                     on_timeout: Callable[[], None]) -> ClientTransaction:
        transaction = ClientTransaction(request, lambda data: self.send(data, peer),
                                        self._loop_timers, self.timers, on_response, on_timeout)
        self._clients.add(transaction)
        transaction.start()
        return transaction

    async def request(self, request: SipRequest, address: Address) -> SipResponse:
        """Send a request in a client transaction; its final response (InviteFailed on
        timeout)."""
        final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

        def on_response(response: SipResponse) -> None:
            if response.status >= 200 and not final.done():
                final.set_result(response)

        def on_timeout() -> None:
            if not final.done():
                final.set_exception(InviteFailed(408, "Request Timeout"))

        self.start_client(request, address, on_response, on_timeout)
        return await final

    def _server(self, request: SipRequest, source: Address) -> ServerTransaction:
        return self._servers.create(request, lambda data: self.send(data, source))

    async def respond_until_ack(self, dialog: Dialog, request: SipRequest,
                                response: SipResponse, address: Address, *,
                                already_sent: bool = False) -> SipRequest | None:
        """§13.3.1.4: retransmit a 2xx to INVITE (T1 doubling up to T2) until the ACK
        arrives or 64*T1 passes (then None)."""
        key = (request.call_id, request.cseq[0])
        waiter: asyncio.Future[SipRequest] = asyncio.get_running_loop().create_future()
        self._ack_waiters[key] = waiter
        wire, interval = bytes(response), self.timers.t1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timers.timeout
        server = self._servers.get(request)
        if not already_sent and server is not None and server.state is State.PROCEEDING:
            # The first 2xx goes through the server transaction so that it moves on (RFC
            # 6026 Accepted: absorbs retransmitted INVITEs, then ends) instead of lingering.
            server.respond(response)
            already_sent = True
        try:
            if not already_sent:
                self.send(wire, address)
            while loop.time() < deadline:
                done, _ = await asyncio.wait({waiter}, timeout=interval)
                if done:
                    return waiter.result()
                if dialog.terminated.is_set():
                    return None
                self.send(wire, address)
                interval = min(interval * 2, self.timers.t2)
            return None
        finally:
            self._ack_waiters.pop(key, None)

    # -- dialogs ---------------------------------------------------------------------------
    def dialog_from_2xx(self, request: SipRequest, response: SipResponse,
                        peer: Address) -> Dialog:
        dialog = Dialog(self, dialog_state_uac(request, response, peer), local_sdp=request.body,
                        remote_sdp=response.body or None, caller=True)
        self._dialogs[dialog.key] = dialog
        return dialog

    def dialog_from_invite(self, request: SipRequest, to_tag: str, source: Address, *,
                           local_sdp: bytes) -> Dialog:
        dialog = Dialog(self, dialog_state_uas(request, to_tag, source), local_sdp=local_sdp,
                        remote_sdp=request.body or None)
        self._dialogs[dialog.key] = dialog
        return dialog

    def forget_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop(dialog.key, None)

    # -- outbound calls --------------------------------------------------------------------
    async def invite(self, uri: str, *, from_uri: str, to_uri: str | None = None,
                     sdp: bytes | None = None, credentials: DigestCredentials | None = None,
                     on_provisional: ProvisionalCallback | None = None,
                     answer_offer: AnswerOffer | None = None, display_name: str | None = None,
                     headers: Iterable[tuple[str, str]] = ()) -> OutgoingInvite:
        """Place a call. With `sdp=None` (delayed offer, §13.2.1) the peer offers in its 2xx
        and `answer_offer(offer) -> answer` produces what our ACK carries. `display_name` goes
        in From; `headers` are extra ones (ValueError if unsafe: see `builder.extra_header`)."""
        request = initial_invite(self, uri, from_uri, to_uri or uri,
                                 new_call_id(self.advertised_host), new_tag(), sdp,
                                 display_name=display_name, headers=headers)
        peer = await _peer_of(SipUri.parse(uri))
        outgoing = OutgoingInvite(self, request, peer, credentials, on_provisional,
                                  answer_offer)
        outgoing.start()
        return outgoing

    async def options(self, uri: str, *, from_uri: str | None = None) -> SipResponse:
        """An OPTIONS ping (§11), e.g. is this trunk up: the final response (any status);
        InviteFailed(408) when nothing answers within 64*T1, (503) for an unknown host."""
        peer = await _peer_of(SipUri.parse(uri))
        request = make_request(
            "OPTIONS", uri, via_value=self.via(new_branch()), to=f"<{uri}>",
            from_=f"<{from_uri or f'sip:{self.user}@{self.advertised_host}'}>;tag={new_tag()}",
            call_id=new_call_id(self.advertised_host), cseq=1, contact=self.contact,
            extra=[("Accept", "application/sdp")])
        return await self.request(request, peer)

    # -- inbound ---------------------------------------------------------------------------
    def _on_message(self, message: SipRequest | SipResponse, source: Address) -> None:
        if isinstance(message, SipResponse):
            self._on_response(message)
        else:
            self._on_request(message, source)

    def _on_response(self, response: SipResponse) -> None:
        transaction = self._clients.get(response)
        if transaction is not None and transaction.state is not State.ACCEPTED:
            transaction.receive(response)
            return
        if response.cseq[1] == "INVITE" and 200 <= response.status < 300 \
                and self._on_invite_2xx(response):
            return
        if transaction is None:
            self.stats.stray_responses += 1
        # else: a late 1xx, or a 2xx of a dialog already ended, for an accepted INVITE

    def _on_invite_2xx(self, response: SipResponse) -> bool:
        """§13.2.2.4: a 2xx outside its transaction is a retransmission (re-ACK it) or a
        forked answer (ACK and hang up that fork); False if it matches no dialog."""
        local = NameAddr.parse(response.require("From")).tag or ""
        remote = NameAddr.parse(response.require("To")).tag or ""
        dialog = self._dialogs.get((response.call_id, local, remote))
        if dialog is not None:
            dialog.resend_ack()
            return True
        sibling = next((d for d in self._dialogs.values() if d.caller
                        and d.key[:2] == (response.call_id, local)), None)
        if sibling is not None:
            hang_up_fork(self, sibling, response)
            return True
        return False

    def _on_request(self, request: SipRequest, source: Address) -> None:
        top = request.require("Via")
        request.headers.replace_first("Via", stamp_via(top, *source))
        problem = request_problem(request)
        if request.method == "ACK":
            if problem is not None:  # an ACK gets no response: drop it like unparseable bytes
                raise SipParseError(problem.reason)
            self._on_ack(request)
            return
        existing = self._servers.get(request)
        if existing is not None:
            existing.receive_retransmission()
            return
        if problem is not None:
            self.stats.rejected_bad_request += 1
            self._server(request, source).respond(make_response(
                request, problem.status, problem.reason, extra=problem.headers))
            return
        if request.method == "CANCEL":
            self._on_cancel(request, source)
            return
        to_tag = NameAddr.parse(request.require("To")).tag
        if self._servers.merged(request):
            self._server(request, source).respond(make_response(request, 482, "Loop Detected"))
        elif to_tag:
            self._in_dialog(request, source, to_tag)
        elif request.method == "INVITE":
            self._new_invite(request, source)
        else:
            self._out_of_dialog(request, source)

    def _on_ack(self, ack: SipRequest) -> None:
        waiter = self._ack_waiters.get((ack.call_id, ack.cseq[0]))
        if waiter is not None and not waiter.done():
            waiter.set_result(ack)
            return
        server = self._servers.get(ack)  # §17.2.3: the ACK's branch and sent-by, as INVITE
        if server is not None:
            server.receive_ack()

    def _on_cancel(self, cancel: SipRequest, source: Address) -> None:
        server = self._server(cancel, source)
        incoming = self._invites.get(cancel.server_key)
        if incoming is None:
            invite = self._servers.get(cancel, "INVITE")
            if invite is not None and invite.last_response is not None:
                # §9.2: the INVITE was answered already; the CANCEL matches it but changes
                # nothing (the call, if answered, goes on until a BYE).
                tag = NameAddr.parse(invite.last_response.require("To")).tag
                server.respond(make_response(cancel, 200, to_tag=tag))
                return
            self.stats.rejected_481 += 1
            server.respond(make_response(cancel, 481))
            return
        server.respond(make_response(cancel, 200, to_tag=incoming.to_tag))
        incoming.on_cancel()

    def _in_dialog(self, request: SipRequest, source: Address, to_tag: str) -> None:
        from_tag = NameAddr.parse(request.require("From")).tag or ""
        dialog = self._dialogs.get((request.call_id, to_tag, from_tag))
        server = self._server(request, source)
        if dialog is None:
            self.stats.rejected_481 += 1
            server.respond(make_response(request, 481))
            return
        self.spawn(self._dialog_request(dialog, request, source, server))

    async def _dialog_request(self, dialog: Dialog, request: SipRequest, source: Address,
                              server: ServerTransaction) -> None:
        response = await dialog.handle_request(request, source)
        if response is not None:
            server.respond(response)

    def _new_invite(self, request: SipRequest, source: Address) -> None:
        refusal = self.screen_invite(request, source) if self.screen_invite else None
        if refusal is not None:
            # §8.2.7 stateless UAS: under overload a refusal must cost one datagram, not a
            # transaction retransmitting it for 32 s to a peer that never ACKs.
            status, headers = refusal
            self.stats.refused_stateless += 1
            self.send(bytes(make_response(request, status, extra=headers)), source)
            return
        server = self._server(request, source)
        server.respond(make_response(request, 100))  # §8.2.6.1: stop the caller's Timer A
        if self.on_invite is None:
            server.respond(make_response(request, 480))
            return
        incoming = IncomingInvite(self, request, source, server, new_tag())
        self._invites[request.server_key] = incoming
        self.spawn(self._run_invite_handler(incoming))

    async def _run_invite_handler(self, incoming: IncomingInvite) -> None:
        try:
            assert self.on_invite is not None
            await self.on_invite(incoming)
        except Exception:
            log.exception("invite handler failed")
            if incoming.dialog is None:
                await incoming.reject(500)
        # The handler may return before the call is answered (the engine answers later), so
        # the INVITE stays CANCEL-able until a final response goes out (`forget_invite`).

    def forget_invite(self, incoming: IncomingInvite) -> None:
        if self._invites.get(incoming.request.server_key) is incoming:
            del self._invites[incoming.request.server_key]

    def _out_of_dialog(self, request: SipRequest, source: Address) -> None:
        # INVITE, ACK and CANCEL went their own ways and checks.request_problem answered every
        # other method (405, 501): what is left is OPTIONS and a BYE outside any dialog.
        server = self._server(request, source)
        if request.method == "OPTIONS":
            server.respond(make_response(request, 200, to_tag=new_tag(), extra=[
                ("Allow", ALLOW), ("Accept", "application/sdp")]))
        else:
            self.stats.rejected_481 += 1
            server.respond(make_response(request, 481))

    def _on_malformed(self, data: bytes, source: Address, error: SipParseError) -> None:
        # Stateless (RFC 4475 §3.1.2): nothing is kept for bytes we could not read.
        response = answer_unparsed(data, source, error.reason)
        if response is not None:
            self.stats.rejected_bad_request += 1
            self.send(bytes(response), source)


async def _peer_of(target: SipUri) -> Address:
    try:
        return await resolve(target)
    except OSError as exc:  # an unknown trunk name fails like an unreachable trunk
        raise InviteFailed(503, f"cannot resolve {target.host}: {exc}") from None
