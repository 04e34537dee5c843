"""Hundreds of concurrent dialogs between two user agents on one socket each, cheaply."""

from __future__ import annotations

import asyncio
import time

from yotel.sip.dialog import Dialog
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

CALLS = 300


async def test_hundreds_of_concurrent_calls() -> None:
    remote: list[Dialog] = []

    async def on_invite(incoming: IncomingInvite) -> None:
        await incoming.ringing()
        reply, _ = answer(SessionDescription.parse(incoming.offer or b""), "127.0.0.1", 40000,
                          [PCMU])
        remote.append(await incoming.accept(bytes(reply)))

    # Default RFC timers: nothing here should need a retransmission on loopback.
    async with UserAgent("127.0.0.1", 0, on_invite=on_invite, timers=TimerConfig()) as callee, \
            UserAgent("127.0.0.1", 0, timers=TimerConfig()) as caller:
        offer = bytes(build_offer("127.0.0.1", 30000, [PCMU]))
        started = time.monotonic()
        outs = []
        for n in range(CALLS):
            outs.append(await caller.invite(f"sip:{n}@127.0.0.1:{callee.port}",
                                            from_uri="sip:load@127.0.0.1", sdp=offer))
            if n % 25 == 0:
                await asyncio.sleep(0)  # let the answering side keep up, as a real trunk would
        dialogs = await asyncio.gather(*(out.wait_answer(30) for out in outs))
        assert len(caller.dialogs) == CALLS
        await _until(lambda: len(callee.dialogs) == CALLS)
        assert len({d.call_id for d in dialogs}) == CALLS
        await asyncio.gather(*(dialog.bye() for dialog in dialogs))
        await _until(lambda: all(d.terminated.is_set() for d in remote))
        elapsed = time.monotonic() - started
        assert caller.dialogs == [] and callee.dialogs == []
        assert {d.end_reason for d in remote} == {"remote_bye"}
        assert callee.stats.malformed_dropped == 0 and caller.stats.stray_responses == 0
        # INVITE, ACK and BYE per call; a burst must not drown the socket into mass
        # retransmission (kernel buffer sized for bursts, retransmitted INVITEs absorbed).
        assert caller.stats.sent < 3 * CALLS * 2, caller.stats
        # Generous for a loaded 2-core CI box; an idle laptop does this in well under a second.
        assert elapsed < 20, elapsed


async def _until(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)
