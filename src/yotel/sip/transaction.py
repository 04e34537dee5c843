"""SIP transactions (RFC 3261 §17): retransmission and timeouts over an unreliable transport.

Transactions do no I/O themselves: they are handed a `send(bytes)` function and a `Timers`
object (the event loop's `call_later` in production, a manual clock in unit tests).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from yotel.sip.checks import merge_key
from yotel.sip.message import SipRequest, SipResponse


@dataclass(frozen=True)
class TimerConfig:
    t1: float = 0.5  # RTT estimate (§17.1.1.1)
    t2: float = 4.0  # max retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # max time a message stays in the network

    @property
    def timeout(self) -> float:  # Timers B, F, H, J: 64*T1
        return 64 * self.t1


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class LoopTimers:
    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"  # RFC 6026 §8.6: after a 2xx to INVITE
    TERMINATED = "terminated"


Send = Callable[[bytes], None]


class _Base:
    def __init__(self, send: Send, timers: Timers, config: TimerConfig) -> None:
        self._send = send
        self._timers = timers
        self.config = config
        self.state = State.TRYING
        self._handles: dict[str, Cancellable] = {}
        self.on_terminated: Callable[[], None] = lambda: None

    def _start(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._stop(name)
        self._handles[name] = self._timers.call_later(delay, callback)

    def _stop(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def terminate(self) -> None:
        if self.state is State.TERMINATED:
            return
        self.state = State.TERMINATED
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        # Called once; dropping it breaks the cycle with the table's `forget` closure, so a
        # finished transaction is freed at once instead of by a full garbage collection.
        on_terminated, self.on_terminated = self.on_terminated, _do_nothing
        on_terminated()


class ClientTransaction(_Base):
    """INVITE (§17.1.1) or non-INVITE (§17.1.2) client transaction."""

    def __init__(self, request: SipRequest, send: Send, timers: Timers, config: TimerConfig,
                 on_response: Callable[[SipResponse], None],
                 on_timeout: Callable[[], None]) -> None:
        super().__init__(send, timers, config)
        self.request = request
        self.is_invite = request.method == "INVITE"
        self._wire = bytes(request)
        self._on_response = on_response
        self._on_timeout = on_timeout
        self._interval = config.t1
        self._ack: bytes | None = None

    def start(self) -> None:
        self.state = State.CALLING if self.is_invite else State.TRYING
        self._send(self._wire)
        self._start("retransmit", self._interval, self._retransmit)  # Timer A / E
        self._start("timeout", self.config.timeout, self._timed_out)  # Timer B / F

    def _retransmit(self) -> None:
        if self.state not in (State.CALLING, State.TRYING, State.PROCEEDING):
            return
        self._send(self._wire)
        # §17.1.1.2 Timer A doubles; §17.1.2.2 Timer E doubles up to T2 (T2 once proceeding).
        self._interval = self._interval * 2 if self.is_invite else min(self._interval * 2,
                                                                       self.config.t2)
        self._start("retransmit", self._interval, self._retransmit)

    def _timed_out(self) -> None:
        if self.state in (State.CALLING, State.TRYING, State.PROCEEDING):
            self.terminate()
            self._on_timeout()

    def transport_error(self) -> None:
        """§17.1.4: the transport failed (or closed) under a pending request: the TU hears it
        as a timeout; a transaction that already has its final response just ends."""
        pending = self.state in (State.CALLING, State.TRYING, State.PROCEEDING)
        self.terminate()
        if pending:
            self._on_timeout()

    def receive(self, response: SipResponse) -> None:
        if self.state is State.TERMINATED:
            return
        if self.state is State.ACCEPTED:
            return  # the UA core sees a 2xx retransmission before it gets here
        if response.status < 200:
            self._provisional(response)
        elif self.state is State.COMPLETED:
            if self._ack is not None:  # §17.1.1.2: a retransmitted final → ACK again
                self._send(self._ack)
        else:
            self._final(response)

    def _provisional(self, response: SipResponse) -> None:
        if self.state in (State.CALLING, State.TRYING):
            self.state = State.PROCEEDING
            if self.is_invite:
                self._stop("retransmit")
                self._stop("timeout")  # §17.1.1.2: Timer B only guards CALLING
            else:
                self._interval = self.config.t2
        if self.state is State.PROCEEDING:
            self._on_response(response)

    def _final(self, response: SipResponse) -> None:
        self._stop("retransmit")
        self._stop("timeout")
        # Our own bookkeeping (and the ACK) goes first: the TU may react by sending a new
        # request (a retry with credentials), which must follow the ACK on the wire.
        if self.is_invite and response.status < 300:
            # RFC 6026 §8.4: Accepted, not Terminated. The TU (dialog) acknowledges 2xx end
            # to end; meanwhile late 1xx and retransmitted 2xx still match this transaction
            # and are not strays (the UA core re-ACKs the 2xx), until Timer M.
            self.state = State.ACCEPTED
            self._start("M", self.config.timeout, self.terminate)  # Timer M
        elif self.is_invite:
            self._ack = bytes(non_2xx_ack(self.request, response))
            self._send(self._ack)
            self.state = State.COMPLETED
            self._start("D", max(32.0, self.config.timeout), self.terminate)  # Timer D
        else:
            self.state = State.COMPLETED
            self._start("K", self.config.t4, self.terminate)  # Timer K
        # The TU hears nothing more of this transaction (a retransmitted final is absorbed
        # here): let go of its callbacks, so the call they belong to is not kept alive, with
        # all its media objects, until Timer M, D or K (a heavy garbage-collector load at a
        # hundred calls a second).
        on_response, self._on_response, self._on_timeout = (
            self._on_response, _ignore_response, _do_nothing)
        on_response(response)


def _ignore_response(_response: SipResponse) -> None:
    return None


def _do_nothing() -> None:
    return None


def non_2xx_ack(invite: SipRequest, response: SipResponse) -> SipRequest:
    """§17.1.1.3: the ACK for a non-2xx final is part of the INVITE transaction."""
    headers = invite.headers.copy()
    for name in ("Content-Type", "Contact", "Authorization", "Proxy-Authorization", "Require",
                 "Supported", "Allow"):
        headers.remove(name)
    headers.remove("Via")
    headers.prepend("Via", invite.require("Via"))
    headers.set("To", response.require("To"))
    headers.set("CSeq", f"{invite.cseq[0]} ACK")
    return SipRequest(headers, b"", "ACK", invite.uri)


class ServerTransaction(_Base):
    """INVITE (§17.2.1) or non-INVITE (§17.2.2) server transaction."""

    def __init__(self, request: SipRequest, send: Send, timers: Timers,
                 config: TimerConfig, on_timeout: Callable[[], None] = lambda: None) -> None:
        super().__init__(send, timers, config)
        self.request = request
        self.is_invite = request.method == "INVITE"
        self.state = State.PROCEEDING if self.is_invite else State.TRYING
        self.last_response: SipResponse | None = None
        self._wire: bytes | None = None
        self._interval = config.t1
        self._on_timeout = on_timeout

    def receive_retransmission(self) -> None:
        if self._wire is not None and self.state in (State.PROCEEDING, State.COMPLETED):
            self._send(self._wire)

    def respond(self, response: SipResponse) -> None:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return
        self.last_response = response
        self._wire = bytes(response)
        self._send(self._wire)
        if response.status < 200:
            self.state = State.PROCEEDING
        elif self.is_invite and response.status < 300:
            # RFC 6026 §8.7: stay to absorb retransmitted INVITEs (which would otherwise look
            # like new calls) for Timer L; the UA core retransmits the 2xx (§13.3.1.4).
            self.state = State.ACCEPTED
            self._start("L", self.config.timeout, self.terminate)  # Timer L
        elif self.is_invite:
            self.state = State.COMPLETED
            self._start("G", self._interval, self._retransmit_final)  # Timer G
            self._start("H", self.config.timeout, self._no_ack)  # Timer H
        else:
            self.state = State.COMPLETED
            self._start("J", self.config.timeout, self.terminate)  # Timer J

    def _retransmit_final(self) -> None:
        if self.state is State.COMPLETED and self._wire is not None:
            self._send(self._wire)
            self._interval = min(self._interval * 2, self.config.t2)
            self._start("G", self._interval, self._retransmit_final)

    def _no_ack(self) -> None:
        if self.state is State.COMPLETED:
            self.terminate()
            self._on_timeout()

    def receive_ack(self) -> None:
        if self.is_invite and self.state is State.COMPLETED:
            self.state = State.CONFIRMED
            self._stop("G")
            self._stop("H")
            self._start("I", self.config.t4, self.terminate)  # Timer I


class ClientTable:
    """The UAC's live client transactions, matched as §17.1.3 says: a response's top Via
    branch and its CSeq method."""

    def __init__(self) -> None:
        self._live: dict[tuple[str, str], ClientTransaction] = {}

    def __len__(self) -> int:
        return len(self._live)

    def all(self) -> list[ClientTransaction]:
        return list(self._live.values())

    def get(self, response: SipResponse) -> ClientTransaction | None:
        return self._live.get((response.branch, response.cseq[1]))

    def add(self, transaction: ClientTransaction) -> None:
        key = (transaction.request.branch, transaction.request.method)
        self._live[key] = transaction

        def forget() -> None:
            if self._live.get(key) is transaction:
                del self._live[key]

        transaction.on_terminated = forget


def server_method(request: SipRequest) -> str:
    """§17.2.3: an ACK belongs to the INVITE's transaction; every other method (CANCEL too)
    to a transaction of its own."""
    return "INVITE" if request.method == "ACK" else request.method


class ServerTable:
    """The UAS's live server transactions, matched as §17.2.3 says: top Via branch AND sent-by
    (a second sender reusing a branch is a different transaction) and method; plus, for
    §8.2.2.2, which branch first brought each out-of-dialog request (Call-ID, From tag, CSeq),
    so a copy arriving on another branch is recognised as a loop."""

    def __init__(self, timers: Timers, config: TimerConfig) -> None:
        self._timers = timers
        self._config = config
        self._live: dict[tuple[str, str], ServerTransaction] = {}
        self._origins: dict[tuple[str, str, str], str] = {}

    def __len__(self) -> int:
        return len(self._live)

    @property
    def origins(self) -> int:
        return len(self._origins)

    def get(self, request: SipRequest, method: str | None = None) -> ServerTransaction | None:
        return self._live.get((request.server_key, method or server_method(request)))

    def all(self) -> list[ServerTransaction]:
        return list(self._live.values())

    def merged(self, request: SipRequest) -> bool:
        """§8.2.2.2: the same out-of-dialog request arriving on a second branch reached us
        twice through a forking proxy: one call, not two."""
        origin = merge_key(request)
        return origin is not None and self._origins.get(origin, request.server_key) \
            != request.server_key

    def create(self, request: SipRequest, send: Send) -> ServerTransaction:
        key = (request.server_key, request.method)
        transaction = ServerTransaction(request, send, self._timers, self._config)
        self._live[key] = transaction
        origin = merge_key(request)
        if origin is not None:
            self._origins.setdefault(origin, request.server_key)

        def forget() -> None:
            if self._live.get(key) is transaction:
                del self._live[key]
            if origin is not None and self._origins.get(origin) == request.server_key:
                del self._origins[origin]

        transaction.on_terminated = forget
        return transaction
