"""Dialog and INVITE edge cases on the wire: glare (491), 488, route sets, 2xx retransmissions,
timeouts, CANCEL racing a 200, repeated challenges (RFC 3261 §12-§14, §22)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.address import NameAddr
from yotel.sip.dialog import Dialog, InviteFailed, glare_backoff
from yotel.sip.digest import DigestCredentials
from yotel.sip.invite import IncomingInvite
from yotel.sip.message import SipRequest, SipResponse
from yotel.sip.sdp import SdpError
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

from .test_ua_wire import FAST, OFFER, Callee, RawPeer, ack_for, request

TINY = TimerConfig(t1=0.01, t2=0.08, t4=0.1)  # 64*T1 = 0.64 s: timeouts in tests


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


def reply(req: SipRequest, status: int, *, to_tag: str = "peer1", body: bytes = b"",
          extra: str = "", contact_port: int | None = None) -> bytes:
    to = req.require("To")
    if ";tag=" not in to:
        to += f";tag={to_tag}"
    head = (f"SIP/2.0 {status} Reason\r\n"
            + "".join(f"Via: {v}\r\n" for v in req.headers.get_all("Via"))
            + f"From: {req.require('From')}\r\nTo: {to}\r\nCall-ID: {req.call_id}\r\n"
            f"CSeq: {req.require('CSeq')}\r\n{extra}"
            + (f"Contact: <sip:peer@127.0.0.1:{contact_port}>\r\n" if contact_port else "")
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def established_as_callee(peer: RawPeer, ua: UserAgent, *,
                                extra: str = "") -> tuple[Dialog, SipResponse]:
    callee = Callee(answer_sdp=OFFER)
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="dlg-1", extra=extra),
              ua.local_address)
    ok = await peer.response(200)
    peer.send(ack_for(peer, ua, ok), ua.local_address)
    return await asyncio.wait_for(callee.dialog, 3), ok


async def test_glare_gets_491_and_our_reinvite_retries(peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await established_as_callee(peer, ua)
    to_tag = NameAddr.parse(ok.require("To")).tag
    ours = asyncio.ensure_future(dialog.reinvite(OFFER.replace(b"sendrecv", b"sendonly")))
    first = await peer.request("INVITE")
    # Their re-INVITE crosses ours: §14.2 says 491.
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                      body=OFFER), ua.local_address)
    assert (await peer.response()).status == 491
    peer.send(reply(first, 491), ua.local_address)
    ack = await peer.request("ACK")
    assert ack.branch == first.branch  # hop-by-hop ACK for the non-2xx
    second = await asyncio.wait_for(peer.request("INVITE"), 4)  # after 0-2 s: we are callee
    assert second.cseq[0] == first.cseq[0] + 1 and b"a=sendonly" in second.body
    peer.send(reply(second, 200, body=OFFER.replace(b"sendrecv", b"recvonly"),
                    contact_port=peer.port), ua.local_address)
    assert b"a=recvonly" in await asyncio.wait_for(ours, 3)
    assert (await peer.request("ACK")).cseq == (second.cseq[0], "ACK")


def test_glare_backoff_ranges() -> None:
    owner = [glare_backoff(True) for _ in range(200)]
    other = [glare_backoff(False) for _ in range(200)]
    assert min(owner) >= 2.1 and max(owner) <= 4.0
    assert min(other) >= 0.0 and max(other) <= 2.0


async def test_unacceptable_reinvite_gets_488_until_acked(peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await established_as_callee(peer, ua)

    async def refuse(offer: bytes | None) -> bytes:
        raise SdpError("no common codec")

    dialog.on_reinvite = refuse
    to_tag = NameAddr.parse(ok.require("To")).tag
    peer.send(request(peer, ua, "INVITE", call_id="dlg-1", cseq="2 INVITE", to_tag=to_tag,
                      body=OFFER, branch="z9hG4bKre488"), ua.local_address)
    refused = await peer.response(488)
    assert (await peer.response(488)).cseq == refused.cseq  # Timer G retransmits it
    peer.send(ack_for(peer, ua, refused, branch="z9hG4bKre488"), ua.local_address)
    assert not dialog.terminated.is_set() and dialog.remote_sdp == OFFER


@pytest.mark.parametrize("method,status", [("OPTIONS", 200), ("INFO", 200), ("UPDATE", 501),
                                           ("MESSAGE", 501)])
async def test_other_in_dialog_requests(peer: RawPeer, ua: UserAgent, method: str,
                                        status: int) -> None:
    _, ok = await established_as_callee(peer, ua)
    peer.send(request(peer, ua, method, call_id="dlg-1", cseq=f"5 {method}",
                      to_tag=NameAddr.parse(ok.require("To")).tag), ua.local_address)
    assert (await peer.response()).status == status


async def test_uas_route_set_is_record_route_as_received(peer: RawPeer, ua: UserAgent) -> None:
    routes = f"<sip:127.0.0.1:{peer.port};lr>, <sip:192.0.2.99;lr>"
    dialog, ok = await established_as_callee(peer, ua, extra=f"Record-Route: {routes}\r\n")
    assert ok.headers.get_all("Record-Route") == [f"<sip:127.0.0.1:{peer.port};lr>",
                                                  "<sip:192.0.2.99;lr>"]  # §12.1.1 copied
    bye_task = asyncio.ensure_future(dialog.bye())
    bye = await peer.request("BYE")  # sent to the first route, which is the peer here
    assert bye.headers.get_all("Route") == [f"<sip:127.0.0.1:{peer.port};lr>",
                                            "<sip:192.0.2.99;lr>"]
    assert bye.uri == f"sip:raw@127.0.0.1:{peer.port}"  # loose routing: R-URI = target
    peer.send(reply(bye, 200), ua.local_address)
    await asyncio.wait_for(bye_task, 3)


async def test_uac_route_set_is_record_route_reversed_and_2xx_retransmits_are_acked(
        peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:yotel@127.0.0.1",
                          sdp=OFFER)
    invite = await peer.request("INVITE")
    assert invite.headers.get("Content-Type") == "application/sdp"
    assert invite.headers.get("Max-Forwards") == "70"
    rr = f"Record-Route: <sip:192.0.2.99;lr>, <sip:127.0.0.1:{peer.port};lr>\r\n"
    ok = reply(invite, 200, body=OFFER, extra=rr, contact_port=9)
    peer.send(ok, ua.local_address)
    dialog = await out.wait_answer(3)
    ack = await peer.request("ACK")
    assert ack.headers.get_all("Route") == [f"<sip:127.0.0.1:{peer.port};lr>",
                                            "<sip:192.0.2.99;lr>"]
    assert ack.uri == "sip:peer@127.0.0.1:9" and ack.branch != invite.branch
    peer.send(ok, ua.local_address)  # the 200 again (our ACK "lost"): same ACK again
    again = await peer.request("ACK")
    assert bytes(again) == bytes(ack)
    assert dialog.state.peer == ("127.0.0.1", peer.port)


async def test_late_responses_to_an_accepted_invite_are_not_strays(peer: RawPeer,
                                                                   ua: UserAgent) -> None:
    # Under load a 200 and a 180 (answering the INVITE's retransmission) can reach us after
    # the call is over: they still match the INVITE's transaction (RFC 6026 Accepted).
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER)
    invite = await peer.request("INVITE")
    ok = reply(invite, 200, body=OFFER, contact_port=peer.port)
    peer.send(ok, ua.local_address)
    dialog = await out.wait_answer(3)
    await peer.request("ACK")
    bye = asyncio.ensure_future(dialog.bye())
    peer.send(reply(await peer.request("BYE"), 200), ua.local_address)
    await asyncio.wait_for(bye, 3)
    peer.send(reply(invite, 180), ua.local_address)
    peer.send(ok, ua.local_address)
    stranger = reply(invite, 200, body=OFFER).replace(invite.branch.encode(), b"z9hG4bKother")
    peer.send(stranger.replace(invite.call_id.encode(), b"another-call"), ua.local_address)
    for _ in range(200):
        if ua.stats.received >= 5:
            break
        await asyncio.sleep(0.01)
    assert ua.stats.received == 5  # 200, the BYE's 200, the late 180 and 200, the stranger's
    assert ua.stats.stray_responses == 1  # only the response no transaction of ours sent


async def test_invite_with_no_response_times_out(peer: RawPeer) -> None:
    async with UserAgent("127.0.0.1", 0, timers=TINY) as ua:
        out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                              sdp=OFFER)
        with pytest.raises(InviteFailed) as info:
            await out.wait_answer(5)
        assert info.value.status == 408  # Timer B
        assert len([m for m in peer.drain() if isinstance(m, SipRequest)]) > 3  # Timer A


async def test_answer_without_ack_ends_with_bye(peer: RawPeer) -> None:
    failures: list[int] = []

    async def on_invite(incoming: IncomingInvite) -> None:
        try:
            await incoming.accept(OFFER)
        except InviteFailed as exc:
            failures.append(exc.status)

    async with UserAgent("127.0.0.1", 0, timers=TINY, on_invite=on_invite) as ua:
        peer.send(request(peer, ua, "INVITE", body=OFFER), ua.local_address)
        await peer.response(200)
        bye = await asyncio.wait_for(peer.request("BYE"), 5)  # §13.3.1.4: no ACK, hang up
        assert bye.call_id == "call-1"
        peer.send(reply(bye, 200), ua.local_address)
        for _ in range(300):
            if failures:
                break
            await asyncio.sleep(0.01)
        assert failures == [408] and ua.dialogs == []


async def test_failing_handler_means_500(peer: RawPeer, ua: UserAgent,
                                         caplog: pytest.LogCaptureFixture) -> None:
    async def on_invite(incoming: IncomingInvite) -> None:
        raise RuntimeError("application bug")

    ua.on_invite = on_invite
    peer.send(request(peer, ua, "INVITE", body=OFFER), ua.local_address)
    assert (await peer.response()).status == 100
    assert (await peer.response()).status == 500
    assert "invite handler failed" in caplog.text


async def test_second_challenge_is_a_failure_not_a_loop(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("u", "wrong"))
    challenge = 'WWW-Authenticate: Digest realm="r", nonce="n"\r\n'
    for _ in range(2):
        invite = await peer.request("INVITE")
        peer.send(reply(invite, 401, extra=challenge), ua.local_address)
    with pytest.raises(InviteFailed) as info:
        await out.wait_answer(3)
    assert info.value.status == 401


async def test_unreadable_challenge_is_a_failure(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("u", "p"))
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 407, extra='Proxy-Authenticate: Basic realm="r"\r\n'),
              ua.local_address)
    with pytest.raises(InviteFailed) as info:
        await out.wait_answer(3)
    assert info.value.status == 407


async def test_200_crossing_our_cancel_is_hung_up(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER)
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 180), ua.local_address)
    waiting = asyncio.ensure_future(out.wait_answer(0.2))  # gives up: CANCEL goes out
    cancel = await peer.request("CANCEL")
    assert cancel.branch == invite.branch and cancel.cseq == (invite.cseq[0], "CANCEL")
    peer.send(reply(cancel, 200), ua.local_address)
    peer.send(reply(invite, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    assert (await peer.request("ACK")).cseq[1] == "ACK"
    bye = await peer.request("BYE")  # answered after all: we do not want the call any more
    assert bye.call_id == invite.call_id
    with pytest.raises(InviteFailed) as info:
        await asyncio.wait_for(waiting, 1)  # well before the 4 s grace for the 487
    assert info.value.status == 487
    peer.send(reply(bye, 200), ua.local_address)


async def test_hostnames_are_resolved(peer: RawPeer, ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@localhost:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER)
    invite = await peer.request("INVITE")
    assert invite.uri == f"sip:1@localhost:{peer.port}"
    await out.cancel()


async def test_nothing_is_left_behind_after_calls_end() -> None:
    """Transactions (including re-INVITE server transactions), dialogs and pending INVITEs
    are all released once their timers run out: long-running nodes must not grow."""
    from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer, with_direction

    async def on_invite(incoming: IncomingInvite) -> None:
        reply_sdp, _ = answer(SessionDescription.parse(incoming.offer or b""), "127.0.0.1", 4,
                              [PCMU])
        dialog = await incoming.accept(bytes(reply_sdp))

        async def on_reinvite(offer: bytes | None) -> bytes:
            ours, _ = answer(SessionDescription.parse(offer or b""), "127.0.0.1", 4, [PCMU])
            return bytes(ours)

        dialog.on_reinvite = on_reinvite

    async with UserAgent("127.0.0.1", 0, timers=TINY, on_invite=on_invite) as callee, \
            UserAgent("127.0.0.1", 0, timers=TINY) as caller:
        offer = build_offer("127.0.0.1", 30000, [PCMU])
        for _ in range(3):
            out = await caller.invite(f"sip:1@127.0.0.1:{callee.port}",
                                      from_uri="sip:a@127.0.0.1", sdp=bytes(offer))
            dialog = await out.wait_answer(3)
            await dialog.reinvite(bytes(with_direction(offer, "sendonly")))
            await dialog.bye()
        for _ in range(300):  # every timer is at most 64*T1 = 0.64 s, and T4 = 0.1 s
            tables = [callee._servers, callee._clients, caller._servers, caller._clients,
                      callee._invites, callee._ack_waiters, caller._ack_waiters]
            if not any(tables) and not callee.dialogs and not caller.dialogs:
                break
            await asyncio.sleep(0.01)
        assert not any(tables), tables
        assert callee.dialogs == [] and caller.dialogs == []


async def test_delayed_offer_without_an_answerer_is_acked_and_hung_up(peer: RawPeer,
                                                                      ua: UserAgent) -> None:
    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1", sdp=None)
    invite = await peer.request("INVITE")
    assert invite.body == b"" and invite.headers.get("Content-Type") is None
    peer.send(reply(invite, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    ack = await peer.request("ACK")  # a 2xx is always ACKed (§13.2.2.4)...
    assert ack.body == b""
    bye = await peer.request("BYE")  # ...but with no answer to give, the call cannot go on
    with pytest.raises(InviteFailed) as info:
        await out.wait_answer(1)
    assert info.value.status == 488
    peer.send(reply(bye, 200), ua.local_address)


def test_request_target_loose_and_strict_routing() -> None:
    from yotel.sip.address import SipUri
    from yotel.sip.dialog import request_target

    target = SipUri.parse("sip:bob@192.0.2.4:5070")
    assert request_target(target, []) == ("sip:bob@192.0.2.4:5070", [])
    loose = ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    assert request_target(target, loose) == ("sip:bob@192.0.2.4:5070", loose)
    # §12.2.1.1: a strict router takes the Request-URI; the target goes last in Route.
    strict = ["<sip:old.example:5060>", "<sip:p2.example;lr>"]
    assert request_target(target, strict) == (
        "sip:old.example:5060", ["<sip:p2.example;lr>", "<sip:bob@192.0.2.4:5070>"])


async def test_responses_tell_a_natted_peer_where_it_is(peer: RawPeer, ua: UserAgent) -> None:
    data = request(peer, ua, "OPTIONS").replace(
        f"127.0.0.1:{peer.port};branch".encode(), b"10.1.2.3:5060;rport;branch")
    peer.send(data, ua.local_address)
    response = await peer.response()  # sent back to the source address, not to 10.1.2.3
    assert response.require("Via") == (f"SIP/2.0/UDP 10.1.2.3:5060;rport={peer.port};"
                                       f"branch={response.branch};received=127.0.0.1")


async def test_closing_the_ua_releases_every_waiter(peer: RawPeer) -> None:
    ua = UserAgent("127.0.0.1", 0, timers=FAST)
    await ua.start()
    dialog, _ = await established_as_callee(peer, ua)
    ringing = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                              sdp=OFFER)
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 180), ua.local_address)
    await asyncio.sleep(0.05)
    await ua.close()
    assert dialog.terminated.is_set() and dialog.end_reason == "ua_closed"
    with pytest.raises(InviteFailed):
        await asyncio.wait_for(ringing.wait_answer(), 1)


async def test_in_dialog_challenges_are_answered(peer: RawPeer, ua: UserAgent) -> None:
    from yotel.sip.digest import verify

    out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("acct", "pw"))
    invite = await peer.request("INVITE")
    peer.send(reply(invite, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    dialog = await out.wait_answer(3)
    await peer.request("ACK")
    # A trunk that challenges the re-INVITE (401) ...
    hold = asyncio.ensure_future(dialog.reinvite(OFFER.replace(b"sendrecv", b"sendonly")))
    first = await peer.request("INVITE")
    peer.send(reply(first, 401, extra='WWW-Authenticate: Digest realm="t", nonce="x1"\r\n'),
              ua.local_address)
    assert (await peer.request("ACK")).branch == first.branch
    second = await peer.request("INVITE")
    assert second.cseq[0] == first.cseq[0] + 1
    assert verify(second.headers.get("Authorization") or "", method="INVITE", password="pw")
    peer.send(reply(second, 200, body=OFFER, contact_port=peer.port), ua.local_address)
    await asyncio.wait_for(hold, 3)
    assert (await peer.request("ACK")).cseq == (second.cseq[0], "ACK")
    # ... and the BYE (407).
    bye_task = asyncio.ensure_future(dialog.bye())
    bye = await peer.request("BYE")
    peer.send(reply(bye, 407, extra='Proxy-Authenticate: Digest realm="t", nonce="x2", '
                                    'algorithm=SHA-256, qop="auth"\r\n'), ua.local_address)
    bye2 = await peer.request("BYE")
    assert bye2.cseq[0] == bye.cseq[0] + 1 and bye2.branch != bye.branch
    assert verify(bye2.headers.get("Proxy-Authorization") or "", method="BYE", password="pw")
    peer.send(reply(bye2, 200), ua.local_address)
    await asyncio.wait_for(bye_task, 3)


async def test_cancel_with_no_487_gives_up_after_64_t1(peer: RawPeer) -> None:
    async with UserAgent("127.0.0.1", 0, timers=TINY) as ua:
        out = await ua.invite(f"sip:1@127.0.0.1:{peer.port}", from_uri="sip:y@127.0.0.1",
                              sdp=OFFER)
        invite = await peer.request("INVITE")
        peer.send(reply(invite, 180), ua.local_address)
        waiting = asyncio.ensure_future(out.wait_answer(0.05))
        cancel = await peer.request("CANCEL")
        peer.send(reply(cancel, 200), ua.local_address)  # ... and never a 487
        with pytest.raises(InviteFailed) as info:
            await asyncio.wait_for(waiting, 2)  # 64*T1 = 0.64 s, well before the 4 s grace
        assert info.value.status == 408
        for _ in range(100):
            if not ua._clients:
                break
            await asyncio.sleep(0.01)
        assert not ua._clients  # the INVITE transaction is gone, not stuck in Proceeding


async def test_unresolvable_host_is_503(ua: UserAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    async def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_host)
    with pytest.raises(InviteFailed) as info:
        await ua.invite("sip:1@trunk.invalid", from_uri="sip:y@127.0.0.1", sdp=OFFER)
    assert info.value.status == 503
