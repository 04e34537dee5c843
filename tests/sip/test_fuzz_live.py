"""Junk thrown at a live user agent while a call is up: the call carries on, the junk is counted,
and once the storm settles nothing is left behind: no transaction, dialog, pending INVITE, ACK
waiter or task (UserAgent.census)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from yotel.sip.dialog import Dialog
from yotel.sip.invite import IncomingInvite
from yotel.sip.message import parse_message
from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer, with_direction
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

from .test_message import SIPP_200, SIPP_INVITE, TORTUOUS

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5)


def junk(rng: random.Random, count: int) -> list[bytes]:
    """Mutated real messages (some still parse) and plain garbage (never parses)."""
    corpus = [SIPP_INVITE, SIPP_200, TORTUOUS,
              SIPP_INVITE.replace(b"INVITE", b"BYE").replace(b"Call-ID: 1-", b"Call-ID: 9-")]
    out: list[bytes] = []
    for i in range(count):
        if i % 4 == 0:
            out.append(b"\x00" + rng.randbytes(rng.randint(1, 300)))
            continue
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(data))
            choice = rng.random()
            if choice < 0.4:
                data[at] = rng.randrange(256)
            elif choice < 0.7:
                del data[at:at + rng.randint(1, 30)]
            else:
                data[at:at] = rng.choice([b"\r\n", b":", b";", b",", b"<", b'"', b"\xff"])
            if not data:
                break
        out.append(bytes(data))
    return out


class _Sender(asyncio.DatagramProtocol):
    pass


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_call_survives_junk_and_junk_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    answered: asyncio.Queue[Dialog] = asyncio.Queue()

    async def on_invite(incoming: IncomingInvite) -> None:
        if not answered.empty() or "alice" not in incoming.request.require("From"):
            await incoming.reject(486)  # a mutated INVITE that happened to parse
            return
        offer = SessionDescription.parse(incoming.offer or b"")
        sdp, _ = answer(offer, "127.0.0.1", 40000, [PCMU])
        dialog = await incoming.accept(bytes(sdp))

        async def on_reinvite(body: bytes | None) -> bytes:
            reply, _ = answer(SessionDescription.parse(body or b""), "127.0.0.1", 40000, [PCMU])
            return bytes(reply)

        dialog.on_reinvite = on_reinvite
        await answered.put(dialog)

    async with UserAgent("127.0.0.1", 0, timers=FAST, on_invite=on_invite) as callee, \
            UserAgent("127.0.0.1", 0, timers=FAST) as caller:
        offer = build_offer("127.0.0.1", 30000, [PCMU])
        out = await caller.invite(f"sip:100@127.0.0.1:{callee.port}",
                                  from_uri="sip:alice@127.0.0.1", to_uri="sip:100@127.0.0.1",
                                  sdp=bytes(offer))
        dialog = await out.wait_answer(5)
        remote = await asyncio.wait_for(answered.get(), 5)

        datagrams = junk(random.Random(3261), 400)
        expected_malformed = sum(1 for d in datagrams if d.strip() and not _parses(d))
        before = callee.stats.malformed_dropped
        received = callee.stats.received
        transport, _ = await loop.create_datagram_endpoint(_Sender,
                                                           remote_addr=callee.local_address)
        try:
            for data in datagrams:
                transport.sendto(data)
                await asyncio.sleep(0)  # let the listener keep up: UDP drops on overflow
            await _wait_for(lambda: callee.stats.received >= received + len(datagrams))
        finally:
            transport.close()

        assert expected_malformed > 100
        assert callee.census()["server_transactions"] > 10  # the junk opened some: they must end
        assert callee.stats.malformed_dropped - before >= expected_malformed
        # The call is untouched: hold and resume still negotiate, then BYE ends both sides.
        held = await dialog.reinvite(bytes(with_direction(offer, "sendonly")))
        assert SessionDescription.parse(held).media.direction == "recvonly"
        resumed = await dialog.reinvite(bytes(with_direction(offer, "sendrecv")))
        assert SessionDescription.parse(resumed).media.direction == "sendrecv"
        assert not remote.terminated.is_set()
        await dialog.bye()
        await asyncio.wait_for(remote.terminated.wait(), 5)
        assert remote.end_reason == "remote_bye"
        assert callee.stats.rejected_bad_request > 50  # unparseable requests answered 400
        # Every transaction the junk opened ends by its own timers (H, J, L: 64*T1 = 3.2 s
        # here): nothing of it, nor of the call, stays behind on either side.
        await _wait_for(lambda: settled(callee) and settled(caller), timeout=10)
    assert loop_errors == []
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def settled(ua: UserAgent) -> bool:
    return all(count == 0 for count in ua.census().values())


def _parses(data: bytes) -> bool:
    try:
        parse_message(data)
    except ValueError:
        return False
    return True
