"""Two Yotel user agents talking over real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from yotel.sip.digest import DigestCredentials
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import PCMA, PCMU, SessionDescription, accept_answer, answer, build_offer
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5)


async def answering_ua(*, ring: bool = True, delay: float = 0.0,
                       reject: int | None = None) -> tuple[UserAgent, asyncio.Queue[object]]:
    events: asyncio.Queue[object] = asyncio.Queue()

    async def on_invite(incoming: IncomingInvite) -> None:
        if ring:
            await incoming.ringing()
        await asyncio.sleep(delay)
        if incoming.cancelled.is_set():
            await events.put("cancelled")
            return
        if reject:
            await incoming.reject(reject)
            return
        offer = SessionDescription.parse(incoming.offer or b"")
        sdp, _ = answer(offer, "127.0.0.1", 40000, [PCMA, PCMU])
        dialog = await incoming.accept(bytes(sdp))
        await events.put(dialog)

    ua = UserAgent("127.0.0.1", 0, on_invite=on_invite, timers=FAST)
    await ua.start()
    return ua, events


async def test_call_answer_and_bye_from_caller() -> None:
    callee, events = await answering_ua()
    async with UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        ringing = asyncio.Event()
        offer = build_offer("127.0.0.1", 30000, [PCMU, PCMA])
        out = await caller.invite(f"sip:100@127.0.0.1:{callee.port}",
                                  from_uri="sip:alice@127.0.0.1", sdp=bytes(offer),
                                  on_provisional=lambda r: ringing.set())
        dialog = await out.wait_answer(5)
        assert ringing.is_set()
        result = accept_answer(offer, SessionDescription.parse(dialog.remote_sdp or b""))
        assert (result.codec, result.remote_port) == ("PCMA", 40000)  # the answerer prefers PCMA
        remote = await asyncio.wait_for(events.get(), 5)
        await dialog.bye()
        await asyncio.wait_for(remote.terminated.wait(), 5)  # type: ignore[attr-defined]
        assert remote.end_reason == "remote_bye"  # type: ignore[attr-defined]
        assert dialog.end_reason == "local_bye"
    await callee.close()


async def test_reinvite_hold_round_trip_and_bye_from_callee() -> None:
    callee, events = await answering_ua(ring=False)
    async with UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        offer = build_offer("127.0.0.1", 30000, [PCMU])
        out = await caller.invite(f"sip:100@127.0.0.1:{callee.port}",
                                  from_uri="sip:alice@127.0.0.1", sdp=bytes(offer))
        dialog = await out.wait_answer(5)
        remote = await asyncio.wait_for(events.get(), 5)
        seen: list[bytes | None] = []

        async def on_reinvite(sdp: bytes | None) -> bytes:
            seen.append(sdp)
            parsed = SessionDescription.parse(sdp or b"")
            ours, _ = answer(parsed, "127.0.0.1", 40000, [PCMU])
            return bytes(ours)

        remote.on_reinvite = on_reinvite  # type: ignore[attr-defined]
        from yotel.sip.sdp import with_direction
        reply = await dialog.reinvite(bytes(with_direction(offer, "sendonly")))
        assert SessionDescription.parse(reply).media.direction == "recvonly"
        assert seen and SessionDescription.parse(seen[0] or b"").on_hold
        await remote.bye()  # type: ignore[attr-defined]
        await asyncio.wait_for(dialog.terminated.wait(), 5)
        assert dialog.end_reason == "remote_bye"
    await callee.close()


async def test_busy_and_cancel() -> None:
    from yotel.sip.dialog import InviteFailed

    busy, _ = await answering_ua(reject=486)
    slow, events = await answering_ua(delay=1.0)
    async with UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        out = await caller.invite(f"sip:1@127.0.0.1:{busy.port}", from_uri="sip:a@127.0.0.1",
                                  sdp=bytes(build_offer("127.0.0.1", 30000, [PCMU])))
        with pytest.raises(InviteFailed) as info:
            await out.wait_answer(5)
        assert info.value.status == 486
        out = await caller.invite(f"sip:1@127.0.0.1:{slow.port}", from_uri="sip:a@127.0.0.1",
                                  sdp=bytes(build_offer("127.0.0.1", 30000, [PCMU])))
        with pytest.raises(InviteFailed) as info:
            await out.wait_answer(0.3)
        assert info.value.status == 487
        assert await asyncio.wait_for(events.get(), 5) == "cancelled"
    await busy.close()
    await slow.close()


async def test_options_unknown_method_and_stray_bye() -> None:
    async with UserAgent("127.0.0.1", 0, timers=FAST) as server, \
            UserAgent("127.0.0.1", 0, timers=FAST) as client:
        from yotel.sip.address import new_branch
        from yotel.sip.builder import make_request

        def req(method: str, to: str = "<sip:x@127.0.0.1>") -> object:
            return make_request(method, f"sip:x@127.0.0.1:{server.port}",
                                via_value=client.via(new_branch()),
                                from_="<sip:a@127.0.0.1>;tag=1", to=to, call_id="c1", cseq=1)

        options = await client.request(req("OPTIONS"), server.local_address)  # type: ignore[arg-type]
        assert options.status == 200 and "INVITE" in (options.headers.get("Allow") or "")
        bye = await client.request(req("BYE", "<sip:x@127.0.0.1>;tag=zz"),  # type: ignore[arg-type]
                                   server.local_address)
        assert bye.status == 481
        sub = await client.request(req("SUBSCRIBE"), server.local_address)  # type: ignore[arg-type]
        assert sub.status == 405
        foo = await client.request(req("FOO"), server.local_address)  # type: ignore[arg-type]
        assert foo.status == 501


async def test_malformed_datagrams_are_counted_not_fatal() -> None:
    async with UserAgent("127.0.0.1", 0, timers=FAST) as server:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                           remote_addr=server.local_address)
        for junk in (b"\x00\xff garbage", b"INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n", b"\r\n\r\n"):
            transport.sendto(junk)
        await asyncio.sleep(0.1)
        transport.close()
        assert server.stats.malformed_dropped == 2


async def test_digest_retry_on_401() -> None:
    from yotel.sip.builder import make_response
    from yotel.sip.digest import verify

    attempts: list[str | None] = []

    async def on_invite(incoming: IncomingInvite) -> None:
        auth = incoming.request.headers.get("Authorization")
        attempts.append(auth)
        if auth is None:
            incoming._transaction.respond(make_response(
                incoming.request, 401, to_tag=incoming.to_tag, extra=[(
                    "WWW-Authenticate",
                    'Digest realm="trunk", nonce="abc", qop="auth", algorithm=SHA-256')]))
            return
        assert verify(auth, method="INVITE", password="pw")
        await incoming.accept(b"")

    async with UserAgent("127.0.0.1", 0, on_invite=on_invite, timers=FAST) as trunk, \
            UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        out = await caller.invite(f"sip:1@127.0.0.1:{trunk.port}", from_uri="sip:a@127.0.0.1",
                                  sdp=None, credentials=DigestCredentials("u", "pw"))
        dialog = await out.wait_answer(5)
        assert len(attempts) == 2 and attempts[1] is not None
        assert out.request.cseq == (2, "INVITE")
        await dialog.bye()
