"""Target refresh and lost dialogs (RFC 3261 §12.2.1.2, §12.2.2, §14.1): a re-INVITE moves the
remote target to its Contact; a 481, a 408 or silence to our re-INVITE ends the dialog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.address import NameAddr
from yotel.sip.dialog import InviteFailed
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

from .test_ua_dialog import established_as_callee, reply
from .test_ua_wire import FAST, OFFER, RawPeer, ack_for, request

TINY = TimerConfig(t1=0.01, t2=0.08, t4=0.1)  # 64*T1 = 0.64 s


async def _raw_peer() -> tuple[asyncio.DatagramTransport, RawPeer]:
    loop = asyncio.get_running_loop()
    return await loop.create_datagram_endpoint(RawPeer, local_addr=("127.0.0.1", 0))


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    transport, protocol = await _raw_peer()
    yield protocol
    transport.close()


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    async with UserAgent("127.0.0.1", 0, timers=FAST) as agent:
        yield agent


async def test_their_reinvite_moves_the_remote_target(peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await established_as_callee(peer, ua)
    moved_transport, moved = await _raw_peer()
    try:
        to_tag = NameAddr.parse(ok.require("To")).tag
        # The re-INVITE comes from the new address and names it in its Contact (a phone that
        # moved networks, or a B2BUA re-anchoring the call).
        moved.send(request(moved, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                           body=OFFER), ua.local_address)
        ok2 = await moved.response(200)
        moved.send(ack_for(moved, ua, ok2), ua.local_address)
        await _until(lambda: dialog.state.remote_target.port == moved.port)
        bye_task = asyncio.ensure_future(dialog.bye())
        bye = await moved.request("BYE")
        assert bye.uri == f"sip:raw@127.0.0.1:{moved.port}"
        moved.send(reply(bye, 200), ua.local_address)
        await asyncio.wait_for(bye_task, 3)
        assert all(m.cseq[1] != "BYE" for m in peer.drain())  # nothing to the old address
    finally:
        moved_transport.close()


async def test_our_reinvite_follows_the_contact_of_its_2xx(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1", sdp=OFFER)
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    dialog = await out.wait_answer(3)
    await peer.request("ACK")
    moved_transport, moved = await _raw_peer()
    try:
        task = asyncio.ensure_future(dialog.reinvite(OFFER.replace(b"sendrecv", b"sendonly")))
        reinvite = await peer.request("INVITE")
        peer.send(reply(reinvite, 200, body=OFFER, contact_port=moved.port), ua.local_address)
        await asyncio.wait_for(task, 3)
        ack = await moved.request("ACK")  # §12.2.1.2: the refreshed target gets the ACK
        assert ack.uri == f"sip:peer@127.0.0.1:{moved.port}" and ack.cseq[1] == "ACK"
        assert not dialog.terminated.is_set()
    finally:
        moved_transport.close()


async def test_481_to_our_reinvite_ends_the_dialog(peer: RawPeer, ua: UserAgent) -> None:
    dialog, _ = await established_as_callee(peer, ua)
    task = asyncio.ensure_future(dialog.reinvite(OFFER))
    reinvite = await peer.request("INVITE")
    peer.send(reply(reinvite, 481), ua.local_address)
    with pytest.raises(InviteFailed) as failed:
        await asyncio.wait_for(task, 3)
    assert failed.value.status == 481
    assert dialog.terminated.is_set() and dialog.end_reason == "dialog_gone"
    assert ua.dialogs == []


async def test_other_refusals_keep_the_dialog(peer: RawPeer, ua: UserAgent) -> None:
    dialog, _ = await established_as_callee(peer, ua)
    task = asyncio.ensure_future(dialog.reinvite(OFFER))
    peer.send(reply(await peer.request("INVITE"), 488), ua.local_address)
    with pytest.raises(InviteFailed):
        await asyncio.wait_for(task, 3)
    assert not dialog.terminated.is_set() and ua.dialogs == [dialog]


async def test_unanswered_reinvite_ends_the_dialog_and_tries_a_bye(peer: RawPeer) -> None:
    async with UserAgent("127.0.0.1", 0, timers=TINY) as ua:
        dialog, _ = await established_as_callee(peer, ua)
        with pytest.raises(InviteFailed) as failed:
            await asyncio.wait_for(dialog.reinvite(OFFER), 5)  # the peer never answers
        assert failed.value.status == 408
        assert dialog.end_reason == "timeout" and ua.dialogs == []
        bye = await peer.request("BYE")  # §14.1: best effort, in the background
        assert bye.call_id == "dlg-1"


async def _until(predicate: object, timeout: float = 3.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
