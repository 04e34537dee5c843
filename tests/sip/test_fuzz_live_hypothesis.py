"""Hypothesis-generated datagrams at a live user agent with a call up: each example is a burst of
mutated real messages and random bytes; the call must hold and every bad datagram be counted."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from yotel.sip.dialog import Dialog
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer, with_direction
from yotel.sip.ua import UserAgent

from .test_fuzz import SIP_TOKENS, mutated
from .test_fuzz_live import FAST, _parses, _Sender, _wait_for
from .test_message import SIPP_200, SIPP_INVITE, TORTUOUS

bursts = st.lists(st.one_of(mutated([SIPP_INVITE, SIPP_200, TORTUOUS], SIP_TOKENS),
                            st.binary(min_size=1, max_size=300)), min_size=20, max_size=60)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(bursts)
def test_generated_junk_never_touches_a_live_call(datagrams: list[bytes]) -> None:
    asyncio.run(_call_under_fire(datagrams))


async def _call_under_fire(datagrams: list[bytes]) -> None:
    answered: asyncio.Queue[Dialog] = asyncio.Queue()

    async def on_invite(incoming: IncomingInvite) -> None:
        if not answered.empty() or "alice" not in incoming.request.require("From"):
            await incoming.reject(486)  # a mutated INVITE that still parses
            return
        sdp, _ = answer(SessionDescription.parse(incoming.offer or b""), "127.0.0.1", 40000,
                        [PCMU])
        dialog = await incoming.accept(bytes(sdp))
        dialog.on_reinvite = on_reinvite
        await answered.put(dialog)

    async def on_reinvite(body: bytes | None) -> bytes:
        reply, _ = answer(SessionDescription.parse(body or b""), "127.0.0.1", 40000, [PCMU])
        return bytes(reply)

    async with UserAgent("127.0.0.1", 0, timers=FAST, on_invite=on_invite) as callee, \
            UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        offer = build_offer("127.0.0.1", 30000, [PCMU])
        out = await caller.invite(f"sip:100@127.0.0.1:{callee.port}",
                                  from_uri="sip:alice@127.0.0.1", sdp=bytes(offer))
        dialog = await out.wait_answer(5)
        remote = await asyncio.wait_for(answered.get(), 5)
        before, received = callee.stats.malformed_dropped, callee.stats.received
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Sender,
                                                           remote_addr=callee.local_address)
        try:
            for data in datagrams:
                transport.sendto(data)
                await asyncio.sleep(0)
            await _wait_for(lambda: callee.stats.received >= received + len(datagrams))
        finally:
            transport.close()
        bad = sum(1 for d in datagrams if d.strip() and not _parses(d))
        assert callee.stats.malformed_dropped - before >= bad
        assert callee.stats.handler_errors == 0
        held = await dialog.reinvite(bytes(with_direction(offer, "sendonly")))
        assert SessionDescription.parse(held).media.direction == "recvonly"
        await dialog.bye()
        await asyncio.wait_for(remote.terminated.wait(), 5)
        assert remote.end_reason == "remote_bye"
