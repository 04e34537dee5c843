"""RFC 3261 §17 transactions as pure state machines, driven by a manual clock (timers A..K)."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

import pytest

from yotel.sip.message import SipRequest, SipResponse, parse_message
from yotel.sip.transaction import (
    Cancellable,
    ClientTransaction,
    ServerTable,
    ServerTransaction,
    State,
    TimerConfig,
    non_2xx_ack,
)

CONFIG = TimerConfig(t1=0.5, t2=4.0, t4=5.0)


class _Handle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A `Timers` whose time only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, _Handle, Callable[[], None]]] = []
        self._order = itertools.count()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        handle = _Handle()
        heapq.heappush(self._queue, (self.now + delay, next(self._order), handle, callback))
        return handle

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while self._queue and self._queue[0][0] <= end + 1e-9:
            due, _, handle, callback = heapq.heappop(self._queue)
            self.now = due
            if not handle.cancelled:
                callback()
        self.now = end

    @property
    def pending(self) -> int:
        return sum(1 for _, _, handle, _ in self._queue if not handle.cancelled)


class Wire:
    """Records what a transaction sends, with the time it was sent."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, bytes]] = []

    def __call__(self, data: bytes) -> None:
        self.sent.append((self.clock.now, data))

    @property
    def times(self) -> list[float]:
        return [round(t, 3) for t, _ in self.sent]


def request(method: str = "INVITE") -> SipRequest:
    return _parse_request(
        f"{method} sip:bob@192.0.2.4 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtx1\r\n"
        "From: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.4>\r\n"
        f"Call-ID: tx@192.0.2.1\r\nCSeq: 4 {method}\r\nContact: <sip:alice@192.0.2.1>\r\n"
        "Content-Length: 0\r\n\r\n")


def _parse_request(text: str) -> SipRequest:
    message = parse_message(text.encode())
    assert isinstance(message, SipRequest)
    return message


def response(status: int, method: str = "INVITE", tag: str = "b1") -> SipResponse:
    message = parse_message(
        f"SIP/2.0 {status} Whatever\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtx1\r\n"
        f"From: <sip:alice@192.0.2.1>;tag=a1\r\nTo: <sip:bob@192.0.2.4>;tag={tag}\r\n"
        f"Call-ID: tx@192.0.2.1\r\nCSeq: 4 {method}\r\nContent-Length: 0\r\n\r\n".encode())
    assert isinstance(message, SipResponse)
    return message


class Client:
    def __init__(self, method: str = "INVITE", config: TimerConfig = CONFIG) -> None:
        self.clock = ManualClock()
        self.wire = Wire(self.clock)
        self.responses: list[int] = []
        self.timeouts = 0
        self.terminated = False
        self.tx = ClientTransaction(request(method), self.wire, self.clock, config,
                                    lambda r: self.responses.append(r.status), self._timeout)
        self.tx.on_terminated = self._terminated
        self.tx.start()

    def _timeout(self) -> None:
        self.timeouts += 1

    def _terminated(self) -> None:
        self.terminated = True


def test_invite_timer_a_doubles_until_timer_b() -> None:
    client = Client()
    assert client.tx.state is State.CALLING
    client.clock.advance(40)
    # §17.1.1.2: sends at 0, T1, 3T1, 7T1, ... (A doubles without a cap) until B = 64*T1 = 32s.
    assert client.wire.times == [0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert client.timeouts == 1 and client.terminated
    assert client.tx.state is State.TERMINATED and client.clock.pending == 0


def test_invite_provisional_stops_retransmission_and_timer_b() -> None:
    client = Client()
    client.clock.advance(0.6)
    client.tx.receive(response(180))
    client.tx.receive(response(183))
    client.clock.advance(100)
    assert client.wire.times == [0, 0.5]
    assert client.tx.state is State.PROCEEDING and client.timeouts == 0
    assert client.responses == [180, 183]


def test_invite_2xx_is_accepted_until_timer_m_and_leaves_the_ack_to_the_dialog() -> None:
    client = Client()
    client.tx.receive(response(100))
    client.tx.receive(response(200))
    assert client.responses == [100, 200]
    # RFC 6026 §8.4: Accepted (it still matches late responses), no retransmission, no ACK
    assert client.tx.state is State.ACCEPTED and not client.terminated
    assert len(client.wire.sent) == 1
    client.tx.receive(response(180))  # a late provisional is absorbed
    client.tx.receive(response(200))  # retransmissions belong to the UA core
    assert client.responses == [100, 200] and len(client.wire.sent) == 1
    client.clock.advance(31.9)
    assert not client.terminated
    client.clock.advance(0.2)  # Timer M = 64*T1
    assert client.terminated and client.clock.pending == 0 and client.timeouts == 0


def test_invite_non_2xx_is_acked_hop_by_hop_and_absorbed_until_timer_d() -> None:
    client = Client()
    client.tx.receive(response(486))
    assert client.tx.state is State.COMPLETED and client.responses == [486]
    ack = parse_message(client.wire.sent[-1][1])
    assert isinstance(ack, SipRequest)
    # §17.1.1.3: same branch and Request-URI, To from the response, CSeq number kept.
    assert (ack.method, ack.uri, ack.branch) == ("ACK", "sip:bob@192.0.2.4", "z9hG4bKtx1")
    assert ack.cseq == (4, "ACK")
    assert ack.headers.get("To") == "<sip:bob@192.0.2.4>;tag=b1"
    assert ack.headers.get("Contact") is None and ack.body == b""
    client.tx.receive(response(486))  # a retransmitted final: ACK again, TU not told
    assert client.responses == [486] and client.wire.sent[-1][1] == bytes(ack)
    assert len(client.wire.sent) == 3
    client.clock.advance(31.9)
    assert client.tx.state is State.COMPLETED
    client.clock.advance(0.2)  # Timer D: at least 32 s on UDP
    assert client.terminated and client.timeouts == 0


def test_non_invite_timer_e_caps_at_t2_and_timer_f_times_out() -> None:
    client = Client("OPTIONS")
    assert client.tx.state is State.TRYING
    client.clock.advance(40)
    assert client.wire.times == [0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert client.timeouts == 1 and client.terminated


def test_non_invite_provisional_moves_retransmits_to_t2() -> None:
    client = Client("BYE")
    client.tx.receive(response(100, "BYE"))
    assert client.tx.state is State.PROCEEDING
    client.clock.advance(12)
    assert client.wire.times == [0, 0.5, 4.5, 8.5]
    client.clock.advance(30)
    assert client.timeouts == 1  # Timer F still runs while proceeding


def test_non_invite_final_then_timer_k() -> None:
    client = Client("BYE")
    client.tx.receive(response(200, "BYE"))
    client.tx.receive(response(200, "BYE"))
    client.tx.receive(response(180, "BYE"))
    assert client.responses == [200] and client.tx.state is State.COMPLETED
    client.clock.advance(4.9)
    assert not client.terminated
    client.clock.advance(0.2)  # Timer K = T4
    assert client.terminated and len(client.wire.sent) == 1


def test_shrunk_timers_scale_everything() -> None:
    client = Client(config=TimerConfig(t1=0.01, t2=0.08, t4=0.1))
    client.clock.advance(1)
    assert client.timeouts == 1 and client.wire.times[:3] == [0, 0.01, 0.03]
    assert TimerConfig(t1=0.01).timeout == pytest.approx(0.64)


class Server:
    def __init__(self, method: str = "INVITE") -> None:
        self.clock = ManualClock()
        self.wire = Wire(self.clock)
        self.timeouts = 0
        self.tx = ServerTransaction(request(method), self.wire, self.clock, CONFIG,
                                    on_timeout=self._timeout)

    def _timeout(self) -> None:
        self.timeouts += 1


def test_invite_server_resends_last_provisional_on_retransmission() -> None:
    server = Server()
    assert server.tx.state is State.PROCEEDING
    server.tx.receive_retransmission()
    assert server.wire.sent == []  # nothing to repeat yet
    server.tx.respond(response(100))
    server.tx.respond(response(180))
    server.tx.receive_retransmission()
    assert [parse_message(d) for _, d in server.wire.sent][-1] == response(180)
    assert len(server.wire.sent) == 3


def test_invite_server_timer_g_until_ack_then_timer_i() -> None:
    server = Server()
    server.tx.respond(response(486))
    server.clock.advance(8)
    # §17.2.1 Timer G: T1, doubling, capped at T2.
    assert server.wire.times == [0, 0.5, 1.5, 3.5, 7.5]
    server.tx.receive_ack()
    assert server.tx.state is State.CONFIRMED
    server.tx.receive_retransmission()  # absorbed once confirmed
    server.clock.advance(4.9)
    assert server.tx.state is State.CONFIRMED and len(server.wire.sent) == 5
    server.clock.advance(0.2)  # Timer I = T4
    assert server.tx.state is State.TERMINATED and server.timeouts == 0


def test_invite_server_timer_h_gives_up_without_ack() -> None:
    server = Server()
    server.tx.respond(response(603))
    server.clock.advance(31.9)
    assert server.tx.state is State.COMPLETED
    server.clock.advance(0.2)
    assert server.tx.state is State.TERMINATED and server.timeouts == 1
    assert server.wire.times[-1] <= 32 and server.clock.pending == 0


def test_invite_server_retransmission_in_completed_repeats_the_final() -> None:
    server = Server()
    server.tx.respond(response(486))
    server.tx.receive_retransmission()
    assert len(server.wire.sent) == 2 and server.wire.sent[1][1] == server.wire.sent[0][1]


def test_invite_server_2xx_absorbs_retransmitted_invites_until_timer_l() -> None:
    # RFC 6026 §8.7: the UA core retransmits the 2xx; the transaction only swallows INVITE
    # retransmissions so they are not taken for new calls.
    server = Server()
    server.tx.respond(response(200))
    assert server.tx.state is State.ACCEPTED
    server.tx.receive_retransmission()
    server.tx.respond(response(486))  # too late: ignored
    server.clock.advance(10)
    assert len(server.wire.sent) == 1
    server.clock.advance(22.1)  # Timer L = 64*T1
    assert server.tx.state is State.TERMINATED and server.timeouts == 0


def test_non_invite_server_absorbs_retransmissions_until_timer_j() -> None:
    server = Server("BYE")
    assert server.tx.state is State.TRYING
    server.tx.respond(response(200, "BYE"))
    server.tx.receive_retransmission()
    assert len(server.wire.sent) == 2 and server.tx.state is State.COMPLETED
    server.tx.receive_ack()  # meaningless outside INVITE: no effect
    server.clock.advance(31.9)
    assert server.tx.state is State.COMPLETED
    server.clock.advance(0.2)  # Timer J = 64*T1
    assert server.tx.state is State.TERMINATED and server.timeouts == 0


def test_terminate_is_idempotent_and_cancels_timers() -> None:
    client = Client()
    calls: list[int] = []
    client.tx.on_terminated = lambda: calls.append(1)
    client.tx.terminate()
    client.tx.terminate()
    assert calls == [1] and client.clock.pending == 0
    client.tx.receive(response(200))
    assert client.responses == []


def test_non_2xx_ack_strips_body_and_credentials() -> None:
    invite = request()
    invite.headers.add("Authorization", 'Digest username="u"')
    invite.headers.add("Route", "<sip:proxy;lr>")
    invite.headers.add("Content-Type", "application/sdp")
    invite.body = b"v=0\r\n"
    ack = non_2xx_ack(invite, response(407))
    assert ack.headers.get("Authorization") is None and ack.headers.get("Content-Type") is None
    assert ack.headers.get_all("Route") == ["<sip:proxy;lr>"]  # §17.1.1.3 keeps the route
    assert ack.body == b"" and b"Content-Length: 0" in bytes(ack)


def test_transport_error_is_a_timeout_for_a_pending_request() -> None:
    client = Client()
    client.tx.transport_error()
    assert client.timeouts == 1 and client.terminated and client.clock.pending == 0
    done = Client("BYE")
    done.tx.receive(response(200, "BYE"))
    done.tx.transport_error()  # already answered: just ends
    assert done.timeouts == 0 and done.terminated


def _req(method: str, sent_by: str = "10.0.0.1:5060", branch: str = "z9hG4bKsame",
         cseq_method: str | None = None) -> SipRequest:
    data = (f"{method} sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP {sent_by};branch={branch}\r\n"
            f"From: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n"
            f"CSeq: 1 {cseq_method or method}\r\nContent-Length: 0\r\n\r\n").encode()
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def test_server_table_matches_branch_sent_by_and_method() -> None:
    # RFC 3261 §17.2.3
    table = ServerTable(ManualClock(), CONFIG)
    invite = table.create(_req("INVITE"), lambda data: None)
    assert table.get(_req("INVITE")) is invite  # a retransmission
    assert table.get(_req("INVITE", sent_by="10.0.0.2:5060")) is None  # another sender
    assert table.get(_req("INVITE", sent_by="10.0.0.1:5070")) is None
    assert table.get(_req("ACK", cseq_method="ACK")) is invite  # ACK joins its INVITE
    assert table.get(_req("ACK", sent_by="10.0.0.2:5060")) is None
    assert table.get(_req("CANCEL")) is None  # a CANCEL is a transaction of its own...
    assert table.get(_req("CANCEL"), "INVITE") is invite  # ...that finds its INVITE
    assert table.get(_req("OPTIONS")) is None  # same branch, other method
    other = table.create(_req("INVITE", sent_by="10.0.0.2:5060"), lambda data: None)
    assert len(table) == 2 and other is not invite
    invite.terminate()
    assert table.get(_req("INVITE")) is None and len(table) == 1


def test_a_bare_magic_cookie_falls_back_to_rfc_2543_matching() -> None:
    # RFC 4475 §3.2.1: `branch=z9hG4bK` promises uniqueness but carries no id.
    first, second = _req("OPTIONS", branch="z9hG4bK"), _req("OPTIONS", branch="z9hG4bK")
    assert first.server_key.startswith("2543|") and first.server_key == second.server_key
    assert _req("OPTIONS", branch="z9hG4bK").server_key != \
        _req("OPTIONS", branch="z9hG4bK", sent_by="10.0.0.9").server_key
