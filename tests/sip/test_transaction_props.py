"""Transactions under arbitrary event orders (hypothesis): whatever responses, retransmissions,
ACKs and clock jumps arrive, the RFC 3261 §17 machines keep their promises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from yotel.sip.transaction import ServerTransaction, State

from .test_transaction import CONFIG, Client, ManualClock, Wire, request, response

PROPS = settings(max_examples=200, deadline=None, derandomize=True)
STATUSES = [100, 180, 183, 200, 202, 401, 404, 486, 487, 503, 603]
clock_steps = st.tuples(st.just("advance"), st.floats(0, 40, allow_nan=False))


@PROPS
@given(st.sampled_from(["INVITE", "OPTIONS", "BYE"]),
       st.lists(st.one_of(clock_steps, st.tuples(st.just("response"),
                                                 st.sampled_from(STATUSES))), max_size=12))
def test_client_transaction_promises(method: str, events: list[tuple[str, float]]) -> None:
    client = Client(method)
    wire_request = bytes(client.tx.request)
    final_seen = False
    for kind, value in events:
        sends_before, ended_before = len(client.wire.sent), client.terminated
        if kind == "advance":
            client.clock.advance(value)
        else:
            final_seen = final_seen or (int(value) >= 200 and not client.terminated)
            client.tx.receive(response(int(value), method))
        new = [data for _, data in client.wire.sent[sends_before:]]
        if final_seen:  # §17.1.1.2/§17.1.2.2: a final response stops retransmission
            assert wire_request not in new
        if ended_before:
            assert new == []
    # The TU hears one final outcome at most: one final response or one timeout.
    finals = [s for s in client.responses if s >= 200]
    assert len(finals) + client.timeouts <= 1
    if final_seen:
        assert len(finals) == 1 and client.timeouts == 0
    client.clock.advance(100)
    retransmits = sum(1 for _, data in client.wire.sent if data == wire_request)
    assert retransmits <= (7 if method == "INVITE" else 12)  # bounded by Timer B / F
    acks = [data for _, data in client.wire.sent if data != wire_request]
    assert all(data.startswith(b"ACK ") for data in acks)
    assert acks == [] or method == "INVITE"
    if method == "INVITE" and client.tx.state is State.PROCEEDING:
        # §17.1.1.2: once ringing, an INVITE has no timer; ending it is the TU's job (CANCEL,
        # then the UA abandons it 64*T1 later). Nothing is being retransmitted meanwhile.
        assert not final_seen and 100 <= min(client.responses) < 200
        assert client.clock.pending == 0
        return
    # Otherwise the transaction ends, whatever happened, with no timer left (B/D/F/K).
    assert client.terminated and client.clock.pending == 0


server_events = st.one_of(
    clock_steps, st.tuples(st.just("respond"), st.sampled_from(STATUSES)),
    st.tuples(st.just("retransmission"), st.just(0)), st.tuples(st.just("ack"), st.just(0)))


@PROPS
@given(st.sampled_from(["INVITE", "OPTIONS"]), st.lists(server_events, max_size=12))
def test_server_transaction_promises(method: str, events: list[tuple[str, float]]) -> None:
    clock = ManualClock()
    wire = Wire(clock)
    timeouts: list[int] = []
    tx = ServerTransaction(request(method), wire, clock, CONFIG,
                           on_timeout=lambda: timeouts.append(1))
    sent_final: bytes | None = None
    for kind, value in events:
        before, state_before = len(wire.sent), tx.state
        if kind == "advance":
            clock.advance(value)
        elif kind == "respond":
            final = response(int(value), method)
            if sent_final is None and tx.state is not State.TERMINATED:
                sent_final = bytes(final) if int(value) >= 200 else None
            tx.respond(final)
        elif kind == "retransmission":
            tx.receive_retransmission()
        else:
            tx.receive_ack()
        new = [data for _, data in wire.sent[before:]]
        if sent_final is not None and kind != "respond":
            # After a final, only that final is ever (re)sent: no later response replaces it.
            assert all(data == sent_final for data in new)
        if state_before in (State.CONFIRMED, State.TERMINATED) and kind == "advance":
            assert new == []  # §17.2.1: the ACK stopped Timer G
    clock.advance(100)
    if sent_final is None:
        assert tx.state in (State.TRYING, State.PROCEEDING)  # waits for its TU to answer
    else:
        assert tx.state is State.TERMINATED and clock.pending == 0
    assert len(timeouts) <= 1 and (timeouts == [] or method == "INVITE")
