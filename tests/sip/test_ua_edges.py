"""INVITE edge cases: CANCEL asked for before any provisional (§9.1), answering a cancelled call,
a second re-INVITE while the first is still being answered (§14.2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.address import NameAddr
from yotel.sip.dialog import InviteFailed
from yotel.sip.invite import IncomingInvite
from yotel.sip.ua import UserAgent

from .test_ua_dialog import established_as_callee, reply
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


async def test_cancel_waits_for_the_first_provisional(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1", sdp=OFFER)
    invite = await peer.request("INVITE")
    await out.cancel()
    # §9.1: no CANCEL before a provisional response (it could overtake the INVITE).
    await asyncio.sleep(FAST.t1 * 3)
    assert all(getattr(m, "method", "") != "CANCEL" for m in peer.drain())
    peer.send(reply(invite, 180), ua.local_address)
    cancel = await peer.request("CANCEL")
    assert cancel.branch == invite.branch and cancel.cseq == (1, "CANCEL")
    assert cancel.require("From") == invite.require("From") and cancel.call_id == invite.call_id
    peer.send(reply(cancel, 200), ua.local_address)
    peer.send(reply(invite, 487), ua.local_address)
    with pytest.raises(InviteFailed) as failed:
        await out.wait_answer(3)
    assert failed.value.status == 487
    assert (await peer.request("ACK")).branch == invite.branch


async def test_accepting_a_cancelled_call_raises_487(peer: RawPeer, ua: UserAgent) -> None:
    seen: asyncio.Queue[IncomingInvite] = asyncio.Queue()

    async def on_invite(incoming: IncomingInvite) -> None:
        await incoming.ringing()
        await seen.put(incoming)

    ua.on_invite = on_invite
    peer.send(request(peer, ua, "INVITE", body=OFFER, branch="z9hG4bKgone"), ua.local_address)
    incoming = await asyncio.wait_for(seen.get(), 3)
    assert incoming.from_uri.user == "raw" and incoming.to_uri.user == "100"
    peer.send(request(peer, ua, "CANCEL", branch="z9hG4bKgone", cseq="1 CANCEL"),
              ua.local_address)
    await peer.response(487)
    with pytest.raises(InviteFailed) as failed:
        await incoming.accept(OFFER)
    assert failed.value.status == 487 and ua.dialogs == []


async def test_a_reinvite_while_the_last_is_unacked_gets_500_retry_after(
        peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await established_as_callee(peer, ua)
    to_tag = NameAddr.parse(ok.require("To")).tag
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                      body=OFFER), ua.local_address)
    await peer.response(200)  # answered, and we do not ACK yet
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="3 INVITE", to_tag=to_tag,
                      body=OFFER), ua.local_address)
    refused = await peer.response(500)
    assert refused.cseq == (3, "INVITE")
    assert 0 <= int(refused.headers.get("Retry-After") or "-1") <= 10  # §14.2
    assert not dialog.terminated.is_set()


async def test_late_offer_acked_without_an_answer_is_hung_up(peer: RawPeer,
                                                             ua: UserAgent) -> None:
    outcome: asyncio.Future[InviteFailed] = asyncio.get_running_loop().create_future()

    async def on_invite(incoming: IncomingInvite) -> None:
        try:
            await incoming.accept(OFFER)  # our offer, since the INVITE had none
        except InviteFailed as exc:
            outcome.set_result(exc)

    ua.on_invite = on_invite
    peer.send(request(peer, ua, "INVITE", call_id="late-2"), ua.local_address)
    ok = await peer.response(200)
    peer.send(ack_for(peer, ua, ok), ua.local_address)  # no SDP in it
    bye = await peer.request("BYE")
    assert bye.call_id == "late-2"
    assert (await asyncio.wait_for(outcome, 3)).status == 488
    peer.send(reply(bye, 200), ua.local_address)
    assert ua.dialogs == []


async def test_their_reinvite_during_our_glare_backoff_is_answered(
        peer: RawPeer, ua: UserAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("yotel.sip.dialog.glare_backoff", lambda _owner: 0.5)
    dialog, ok = await established_as_callee(peer, ua)
    to_tag = NameAddr.parse(ok.require("To")).tag
    ours = asyncio.ensure_future(dialog.reinvite(OFFER.replace(b"sendrecv", b"sendonly")))
    first = await peer.request("INVITE")
    peer.send(reply(first, 491), ua.local_address)
    await peer.request("ACK")
    # §14.1: while we wait to retry, no INVITE of ours is in flight, so theirs is no glare.
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                      body=OFFER), ua.local_address)
    theirs = await peer.response()
    while theirs.cseq == (1, "INVITE"):  # a late copy of the first 200 that crossed its ACK
        theirs = await peer.response()
    assert (theirs.status, theirs.cseq) == (200, (2, "INVITE"))
    peer.send(ack_for(peer, ua, theirs), ua.local_address)
    second = await asyncio.wait_for(peer.request("INVITE"), 3)  # then our retry
    peer.send(reply(second, 200, body=OFFER.replace(b"sendrecv", b"recvonly")),
              ua.local_address)
    assert b"a=recvonly" in await asyncio.wait_for(ours, 3)


async def test_our_reinvite_waits_for_the_ack_of_theirs(peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await established_as_callee(peer, ua)
    to_tag = NameAddr.parse(ok.require("To")).tag
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                      body=OFFER), ua.local_address)
    theirs = await peer.response()
    while theirs.cseq != (2, "INVITE"):  # skip a late copy of the first 200
        theirs = await peer.response()
    ours = asyncio.ensure_future(dialog.reinvite(OFFER.replace(b"sendrecv", b"sendonly")))
    # §14.1: their INVITE transaction is open until its ACK: ours must not start yet.
    await asyncio.sleep(FAST.t1 * 4)
    assert all(getattr(m, "method", "") != "INVITE" for m in peer.drain())
    peer.send(ack_for(peer, ua, theirs), ua.local_address)
    mine = await asyncio.wait_for(peer.request("INVITE"), 3)
    assert b"a=sendonly" in mine.body
    peer.send(reply(mine, 200, body=OFFER.replace(b"sendrecv", b"recvonly")), ua.local_address)
    assert b"a=recvonly" in await asyncio.wait_for(ours, 3)


async def test_bye_before_the_ack_is_the_caller_hanging_up(peer: RawPeer, ua: UserAgent) -> None:
    outcome: asyncio.Future[InviteFailed] = asyncio.get_running_loop().create_future()

    async def on_invite(incoming: IncomingInvite) -> None:
        try:
            await incoming.accept(OFFER)
        except InviteFailed as exc:
            outcome.set_result(exc)

    ua.on_invite = on_invite
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="quick-1"), ua.local_address)
    ok = await peer.response(200)
    to_tag = NameAddr.parse(ok.require("To")).tag
    peer.send(request(peer, ua, "BYE", call_id="quick-1", cseq="2 BYE", to_tag=to_tag),
              ua.local_address)
    bye_ok = await peer.response()
    while bye_ok.cseq != (2, "BYE"):  # 200 retransmissions until the BYE ended the dialog
        bye_ok = await peer.response()
    assert bye_ok.status == 200
    assert (await asyncio.wait_for(outcome, 3)).status == 487
    assert ua.dialogs == []


async def test_invite_with_display_name_and_extra_headers(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:+15550001@127.0.0.1",
                          sdp=OFFER, display_name='Acme "Support"',
                          headers=[("P-Asserted-Identity", "<sip:+15550001@127.0.0.1>"),
                                   ("x-campaign", "c-42")])
    invite = await peer.request("INVITE")
    sender = NameAddr.parse(invite.require("From"))
    assert sender.display == 'Acme \\"Support\\"' and sender.tag and sender.uri.user == "+15550001"
    assert invite.headers.get("P-Asserted-Identity") == "<sip:+15550001@127.0.0.1>"
    assert invite.headers.get("X-Campaign") == "c-42"
    await out.cancel()


@pytest.mark.parametrize("name,value", [
    ("X-Evil", "a\r\nBYE sip:x SIP/2.0"), ("X-Nul", "a\0b"), ("Bad Name", "x"), ("", "x"),
    ("Via", "SIP/2.0/UDP 1.2.3.4"), ("v", "SIP/2.0/UDP 1.2.3.4"), ("call-id", "mine"),
    ("Content-Length", "0"),
])
async def test_unsafe_extra_headers_are_refused(ua: UserAgent, name: str, value: str) -> None:
    with pytest.raises(ValueError):
        await ua.invite("sip:1@127.0.0.1:9", from_uri="sip:y@127.0.0.1", sdp=OFFER,
                        headers=[(name, value)])
    assert ua.stats.sent == 0  # refused before anything went out


@pytest.mark.parametrize("field,value", [
    ("uri", "sip:1\r\nX-Injected: yes@127.0.0.1:9"), ("uri", "sip:1 2@127.0.0.1:9"),
    ("to_uri", "sip:a\r\nb@h"), ("from_uri", "sip:caller\n@h"), ("display_name", "Bob\r\nX: y"),
])
async def test_line_breaks_from_callers_never_reach_the_wire(ua: UserAgent, field: str,
                                                             value: str) -> None:
    args = {"uri": "sip:1@127.0.0.1:9", "from_uri": "sip:y@127.0.0.1"} | {field: value}
    with pytest.raises(ValueError):
        await ua.invite(args.pop("uri"), sdp=OFFER, **args)
    assert ua.stats.sent == 0


@pytest.mark.parametrize("from_", ["<tel:+15551234567>;tag=t1", "<http://www.example.com>;tag=t1",
                                   '"Carrier" <tel:+15551234567;phone-context=example.com>;tag=t1'])
async def test_a_call_from_a_non_sip_uri_is_answered_and_ended(peer: RawPeer, ua: UserAgent,
                                                               from_: str) -> None:
    # RFC 3261 §20.20 / RFC 4475 §3.3.4: From may hold any URI scheme (carriers send tel:);
    # the call is processed like any other, the number read from it.
    callee = Callee()
    ua.on_invite = callee
    data = request(peer, ua, "INVITE", body=OFFER, call_id=f"tel-{from_[:5]}").replace(
        b"From: <sip:raw@127.0.0.1>;tag=rawtag", f"From: {from_}".encode())
    peer.send(data, ua.local_address)
    ok = await peer.response(200)
    assert NameAddr.parse(ok.require("From")).uri.scheme in ("tel", "http")
    peer.send(ack_for(peer, ua, ok), ua.local_address)
    dialog = await asyncio.wait_for(callee.dialog, 3)
    if from_.startswith(("<tel", '"Carrier')):
        assert callee.calls[0].from_uri.number == "+15551234567"
    bye = asyncio.ensure_future(dialog.bye())
    peer.send(reply(await peer.request("BYE"), 200), ua.local_address)
    await asyncio.wait_for(bye, 3)
    assert ua.dialogs == []
