"""Stale nonces (RFC 7616 §3.3, RFC 2617 §3.2.1): a trunk that says our answer was right but its
nonce expired gets one more answer, for the INVITE and for in-dialog requests alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.dialog import InviteFailed
from yotel.sip.digest import DigestCredentials, parse_params, verify
from yotel.sip.ua import UserAgent

from .test_ua_dialog import reply
from .test_ua_wire import FAST, OFFER, RawPeer

FRESH = 'WWW-Authenticate: Digest realm="r", nonce="n1", qop="auth"\r\n'
STALE = 'WWW-Authenticate: Digest realm="r", nonce="n2", qop="auth", stale=TRUE\r\n'


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


async def test_stale_nonce_on_invite_is_answered_again(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("u", "pw"))
    peer.send(reply(await peer.request("INVITE"), 401, extra=FRESH), ua.local_address)
    second = await peer.request("INVITE")
    peer.send(reply(second, 401, extra=STALE), ua.local_address)
    third = await peer.request("INVITE")
    auth = third.headers.get("Authorization") or ""
    assert third.cseq == (3, "INVITE") and parse_params(auth)["nonce"] == "n2"
    assert verify(auth, method="INVITE", password="pw")
    peer.send(reply(third, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    dialog = await out.wait_answer(3)
    assert dialog.state.local_cseq == 3


async def test_a_third_challenge_is_refused_even_if_stale(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("u", "pw"))
    for challenge in (FRESH, STALE, STALE):
        peer.send(reply(await peer.request("INVITE"), 401, extra=challenge), ua.local_address)
    with pytest.raises(InviteFailed) as failed:
        await out.wait_answer(3)
    assert failed.value.status == 401


async def test_stale_nonce_on_bye_is_answered_again(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("u", "pw"))
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    dialog = await out.wait_answer(3)
    bye = asyncio.ensure_future(dialog.bye())
    cseqs = []
    for challenge in (FRESH, STALE):
        request = await peer.request("BYE")
        cseqs.append(request.cseq[0])
        peer.send(reply(request, 401, extra=challenge), ua.local_address)
    last = await peer.request("BYE")
    assert verify(last.headers.get("Authorization") or "", method="BYE", password="pw")
    peer.send(reply(last, 200), ua.local_address)
    await asyncio.wait_for(bye, 3)
    assert [*cseqs, last.cseq[0]] == [2, 3, 4]
