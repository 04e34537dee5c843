"""Matching requests to what is already going on (RFC 3261 §8.2.2.2, §9.2): the same INVITE
arriving by two paths is one call (482 for the copy); a CANCEL after the answer changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.address import NameAddr
from yotel.sip.dialog import InviteFailed
from yotel.sip.message import SipResponse
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

from .test_ua_dialog import reply
from .test_ua_wire import FAST, OFFER, Callee, RawPeer, ack_for, request


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(RawPeer,
                                                              local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    async with UserAgent("127.0.0.1", 0, timers=FAST) as agent:
        yield agent


async def test_a_forked_copy_of_an_invite_gets_482(peer: RawPeer, ua: UserAgent) -> None:
    callee = Callee(wait_cancel=True)
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="fork-1", branch="z9hG4bKpathA"),
              ua.local_address)
    await peer.response(180)
    # The same request (Call-ID, From tag, CSeq) on another branch: a proxy forked it to us
    # twice. §8.2.2.2: 482 for the copy, one call only.
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="fork-1", branch="z9hG4bKpathB"),
              ua.local_address)
    loop = await peer.response(482)
    assert loop.branch == "z9hG4bKpathB" and loop.cseq == (1, "INVITE")
    assert len(callee.calls) == 1
    # Another call with its own Call-ID is of course not a copy.
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="fork-2"), ua.local_address)
    ringing = await peer.response(180)
    assert ringing.call_id == "fork-2" and len(callee.calls) == 2


async def test_the_first_branch_is_forgotten_with_its_transaction(peer: RawPeer) -> None:
    quick = TimerConfig(t1=0.02, t2=0.16, t4=0.2)  # Timer J = 64*T1 = 1.28 s
    async with UserAgent("127.0.0.1", 0, timers=quick) as ua:
        peer.send(request(peer, ua, "OPTIONS", call_id="opt-1", branch="z9hG4bKo1"),
                  ua.local_address)
        assert (await peer.response(200)).branch == "z9hG4bKo1"
        # Within Timer J the same request on a new branch is a loop ...
        peer.send(request(peer, ua, "OPTIONS", call_id="opt-1", branch="z9hG4bKo2"),
                  ua.local_address)
        assert (await peer.response()).status == 482
        await asyncio.sleep(quick.timeout + 0.3)  # Timer J (64*T1) ends both transactions
        # ... after it, a new request like any other.
        peer.send(request(peer, ua, "OPTIONS", call_id="opt-1", branch="z9hG4bKo3"),
                  ua.local_address)
        assert (await peer.response()).status == 200


async def test_cancel_after_the_answer_gets_200_and_changes_nothing(peer: RawPeer,
                                                                    ua: UserAgent) -> None:
    callee = Callee()
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="late-1", branch="z9hG4bKlate"),
              ua.local_address)
    ok = await peer.response(200)
    peer.send(ack_for(peer, ua, ok), ua.local_address)
    dialog = await asyncio.wait_for(callee.dialog, 3)
    peer.send(request(peer, ua, "CANCEL", call_id="late-1", branch="z9hG4bKlate",
                      cseq="1 CANCEL"), ua.local_address)
    response = await peer.response()
    # §9.2: the CANCEL matched a transaction, so 200 (with the dialog's tag); no 487 follows.
    assert (response.status, response.cseq) == (200, (1, "CANCEL"))
    assert NameAddr.parse(response.require("To")).tag == NameAddr.parse(ok.require("To")).tag
    assert not dialog.terminated.is_set() and ua.dialogs == [dialog]
    assert all(getattr(m, "status", 0) != 487 for m in peer.drain())
    assert ua.stats.rejected_481 == 0


async def test_a_second_forks_2xx_is_acked_and_hung_up(peer: RawPeer, ua: UserAgent) -> None:
    loop = asyncio.get_running_loop()
    other_transport, other = await loop.create_datagram_endpoint(RawPeer,
                                                                 local_addr=("127.0.0.1", 0))
    try:
        out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                              sdp=OFFER)
        invite = await peer.request("INVITE")
        peer.send(reply(invite, 200, to_tag="first", body=OFFER, contact_port=peer.port),
                  ua.local_address)
        dialog = await out.wait_answer(3)
        # A forking proxy's second phone answers too (its own To tag, its own Contact).
        peer.send(reply(invite, 200, to_tag="second", body=OFFER, contact_port=other.port),
                  ua.local_address)
        ack = await other.request("ACK")  # §13.2.2.4: ACK that dialog, then BYE it
        bye = await other.request("BYE")
        for message in (ack, bye):
            assert NameAddr.parse(message.require("To")).tag == "second"
            assert message.call_id == invite.call_id
        assert (ack.cseq, bye.cseq) == ((1, "ACK"), (2, "BYE"))
        other.send(reply(bye, 200), ua.local_address)
        # The answer we kept is untouched.
        assert not dialog.terminated.is_set() and ua.dialogs == [dialog]
        assert dialog.state.remote.tag == "first"
        assert ua.stats.stray_responses == 0
    finally:
        other_transport.close()


def _rfc2543(data: bytes) -> bytes:
    """The same request from an RFC 2543 peer: its Via has no magic-cookie branch."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = [line.split(b";branch=")[0] if line.startswith(b"Via:") else line
             for line in head.split(b"\r\n")]
    return b"\r\n".join(lines) + sep + body


async def test_rfc_2543_peers_without_branches_get_transactions(peer: RawPeer,
                                                                ua: UserAgent) -> None:
    callee = Callee(wait_cancel=True)
    ua.on_invite = callee
    first = _rfc2543(request(peer, ua, "INVITE", body=OFFER, call_id="old-1"))
    peer.send(first, ua.local_address)
    await peer.response(180)
    peer.send(first, ua.local_address)  # a retransmission: the 180 again, no second call
    assert (await peer.response()).status == 180
    # Another call from the same peer is not mistaken for that retransmission.
    peer.send(_rfc2543(request(peer, ua, "INVITE", body=OFFER, call_id="old-2")),
              ua.local_address)
    assert (await peer.response(180)).call_id == "old-2"
    assert [c.call_id for c in callee.calls] == ["old-1", "old-2"]
    # Its CANCEL (same Call-ID, From, CSeq number and Via) finds the first INVITE.
    peer.send(_rfc2543(request(peer, ua, "CANCEL", call_id="old-1", cseq="1 CANCEL")),
              ua.local_address)
    ok = await peer.response()
    assert (ok.status, ok.call_id, ok.cseq[1]) == (200, "old-1", "CANCEL")
    terminated = await peer.response(487)
    assert terminated.call_id == "old-1" and callee.calls[0].cancelled.is_set()
    assert not callee.calls[1].cancelled.is_set()


async def test_options_ping_and_its_timeout(peer: RawPeer) -> None:
    quick = TimerConfig(t1=0.01, t2=0.04, t4=0.05)  # Timer F = 64*T1 = 0.64 s
    async with UserAgent("127.0.0.1", 0, timers=quick) as ua:
        ping = asyncio.ensure_future(ua.options(f"sip:trunk@127.0.0.1:{peer.port}"))
        options = await peer.request("OPTIONS")
        assert options.uri == f"sip:trunk@127.0.0.1:{peer.port}"
        assert options.headers.get("Max-Forwards") == "70"
        assert NameAddr.parse(options.require("From")).tag
        assert options.headers.get("Accept") == "application/sdp"
        peer.send(reply(options, 200), ua.local_address)
        assert (await asyncio.wait_for(ping, 3)).status == 200
        with pytest.raises(InviteFailed) as silence:  # nobody there: Timer F
            await asyncio.wait_for(ua.options("sip:x@127.0.0.1:9"), 5)
        assert silence.value.status == 408


async def test_two_senders_reusing_a_branch_get_two_transactions(peer: RawPeer,
                                                                 ua: UserAgent) -> None:
    # §17.2.3: a server transaction is matched on branch AND Via sent-by; a second sender
    # picking the same branch (by accident, or to hijack) must not be swallowed as a
    # retransmission of the first's request, nor make the first receive its answers.
    loop = asyncio.get_running_loop()
    transport, other = await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))
    try:
        callee = Callee(wait_cancel=True)
        ua.on_invite = callee
        for sender, call_id in ((peer, "mine"), (other, "theirs")):
            sender.send(request(sender, ua, "INVITE", body=OFFER, call_id=call_id,
                                branch="z9hG4bKshared"), ua.local_address)
            assert (await sender.response(180)).call_id == call_id
        assert [c.call_id for c in callee.calls] == ["mine", "theirs"]
        # The same for a non-INVITE request: each sender gets its own 200.
        for sender, call_id in ((peer, "opt-a"), (other, "opt-b")):
            sender.send(request(sender, ua, "OPTIONS", call_id=call_id, branch="z9hG4bKopt"),
                        ua.local_address)
            assert (await sender.response(200)).call_id == call_id
        # A CANCEL matches the INVITE of its own sender only (branch and sent-by, §9.2).
        other.send(request(other, ua, "CANCEL", call_id="theirs", cseq="1 CANCEL",
                           branch="z9hG4bKshared"), ua.local_address)
        assert (await other.response(200)).cseq[1] == "CANCEL"
        assert (await other.response(487)).call_id == "theirs"
        assert callee.calls[1].cancelled.is_set() and not callee.calls[0].cancelled.is_set()
        assert [m for m in peer.drain() if isinstance(m, SipResponse) and m.status >= 200] == []
    finally:
        transport.close()


async def test_a_retransmission_from_the_same_sender_is_still_absorbed(peer: RawPeer,
                                                                       ua: UserAgent) -> None:
    callee = Callee(wait_cancel=True)
    ua.on_invite = callee
    data = request(peer, ua, "INVITE", body=OFFER, call_id="again", branch="z9hG4bKagain")
    peer.send(data, ua.local_address)
    await peer.response(180)
    peer.send(data, ua.local_address)  # same branch, same sent-by, same method: one call
    assert (await peer.response()).status == 180
    assert len(callee.calls) == 1
