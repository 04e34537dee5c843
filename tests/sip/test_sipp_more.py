"""More of Yotel's SIP stack against sipp: delayed offer, the RFC refusals, a burst of calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.dialog import Dialog
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import PCMA, PCMU, SessionDescription, accept_answer, answer, build_offer
from yotel.sip.ua import UserAgent
from yotel.testing.sipp import run_sipp, sipp_running

pytestmark = pytest.mark.sipp


@pytest.fixture
async def yotel() -> AsyncIterator[UserAgent]:
    async with UserAgent("127.0.0.1", 0) as ua:
        yield ua


async def test_sipp_late_offer_gets_our_offer_and_answers_in_ack(yotel: UserAgent) -> None:
    offer = build_offer("127.0.0.1", 42000, [PCMU, PCMA])
    dialogs: asyncio.Queue[Dialog] = asyncio.Queue()

    async def on_invite(incoming: IncomingInvite) -> None:
        assert incoming.offer is None
        await dialogs.put(await incoming.accept(bytes(offer)))

    yotel.on_invite = on_invite
    result = await run_sipp(scenario="uac_late_offer", remote=yotel.local_address)
    assert result.ok, result.report
    dialog = dialogs.get_nowait()
    negotiated = accept_answer(offer, SessionDescription.parse(dialog.remote_sdp or b""))
    assert negotiated.codec == PCMA  # what sipp's ACK answered with
    await asyncio.wait_for(dialog.terminated.wait(), 5)
    assert dialog.end_reason == "remote_bye"


async def test_refusals_are_the_rfc_responses(yotel: UserAgent) -> None:
    calls: list[IncomingInvite] = []

    async def on_invite(incoming: IncomingInvite) -> None:
        calls.append(incoming)

    yotel.on_invite = on_invite
    result = await run_sipp(scenario="uac_refusals", remote=yotel.local_address)
    assert result.ok, result.report
    assert calls == []  # nothing refused ever reached the application
    assert yotel.stats.rejected_bad_request == 5  # 405, 405, 400, 420, 416
    assert yotel.stats.rejected_481 == 1


async def test_sipp_places_many_concurrent_calls_into_yotel(yotel: UserAgent) -> None:
    # sipp's built-in UAC: 40 calls at 20 per second, up to 40 at once, each ending with
    # sipp's BYE; every one must see 100/180/200 and a 200 to its BYE.
    answered = 0

    async def on_invite(incoming: IncomingInvite) -> None:
        nonlocal answered
        await incoming.ringing()
        sdp = SessionDescription.parse(incoming.offer or b"")
        reply, _ = answer(sdp, "127.0.0.1", 43000, [PCMU])
        await incoming.accept(bytes(reply))
        answered += 1

    yotel.on_invite = on_invite
    result = await run_sipp(scenario="uac", remote=yotel.local_address, calls=40,
                            extra=["-r", "20", "-l", "40"], timeout_s=30)
    assert result.ok, result.report
    assert (result.successful, result.failed) == (40, 0), result.stats
    assert answered == 40
    await asyncio.sleep(0)  # let the last BYE's dialog cleanup run
    assert yotel.dialogs == []


async def test_yotel_places_many_concurrent_calls_to_sipp(yotel: UserAgent) -> None:
    async with sipp_running(scenario="uas", calls=30, timeout_s=30) as sipp:
        offer = bytes(build_offer("127.0.0.1", 42000, [PCMU]))
        outs = [await yotel.invite(f"sip:{n}@127.0.0.1:{sipp.port}",
                                   from_uri="sip:yotel@127.0.0.1", sdp=offer)
                for n in range(30)]
        dialogs = await asyncio.gather(*(out.wait_answer(15) for out in outs))
        assert len(yotel.dialogs) == 30
        await asyncio.gather(*(dialog.bye() for dialog in dialogs))
        result = await sipp.wait(20)
    assert result.ok, result.report
    assert result.stats["IncomingCall(C)"] == "30" and result.successful == 30, result.stats
    assert yotel.dialogs == []


async def test_yotel_delayed_offer_answers_sipp_in_the_ack(yotel: UserAgent) -> None:
    answers: list[bytes] = []

    def answer_offer(offer: bytes) -> bytes:
        # We prefer PCMU; sipp offered PCMA first: the answer must carry our choice.
        reply, _ = answer(SessionDescription.parse(offer), "127.0.0.1", 42000, [PCMU, PCMA])
        answers.append(bytes(reply))
        return bytes(reply)

    async with sipp_running(scenario="uas_late_offer") as sipp:
        out = await yotel.invite(f"sip:100@127.0.0.1:{sipp.port}",
                                 from_uri="sip:yotel@127.0.0.1", sdp=None,
                                 answer_offer=answer_offer)
        dialog = await out.wait_answer(10)
        assert dialog.local_sdp == answers[0]
        assert SessionDescription.parse(dialog.remote_sdp or b"").media.port == sipp.media_port
        await dialog.bye()
        result = await sipp.wait(20)
    assert result.ok, result.report


async def test_yotel_pings_sipp_with_options(yotel: UserAgent) -> None:
    async with sipp_running(scenario="uas_options") as sipp:
        response = await yotel.options(f"sip:trunk@127.0.0.1:{sipp.port}")
        result = await sipp.wait(10)
    assert result.ok, result.report
    assert response.status == 200 and response.cseq == (1, "OPTIONS")
    assert "OPTIONS" in response.headers.get_all("Allow")
