"""Yotel's SIP stack against sipp, a third-party implementation, over real UDP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from yotel.sip.dialog import Dialog, InviteFailed
from yotel.sip.digest import DigestCredentials
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer, with_direction
from yotel.sip.ua import UserAgent
from yotel.testing.sipp import run_sipp, sipp_running

pytestmark = pytest.mark.sipp


class Answerer:
    """An inbound handler: ring, answer with SDP, answer re-INVITEs, remember dialogs."""

    def __init__(self, *, answer_after: float | None = 0.05) -> None:
        self.answer_after = answer_after
        self.dialogs: asyncio.Queue[Dialog] = asyncio.Queue()
        self.cancelled = asyncio.Event()
        self.reinvites: list[SessionDescription] = []

    async def __call__(self, incoming: IncomingInvite) -> None:
        await incoming.ringing()
        if self.answer_after is None:
            await incoming.cancelled.wait()
            self.cancelled.set()
            return
        await asyncio.sleep(self.answer_after)
        offer = SessionDescription.parse(incoming.offer or b"")
        sdp, _ = answer(offer, "127.0.0.1", 41000, [PCMU])
        dialog = await incoming.accept(bytes(sdp))
        dialog.on_reinvite = self.on_reinvite
        await self.dialogs.put(dialog)

    async def on_reinvite(self, offer: bytes | None) -> bytes:
        parsed = SessionDescription.parse(offer or b"")
        self.reinvites.append(parsed)
        sdp, _ = answer(parsed, "127.0.0.1", 41000, [PCMU])
        return bytes(sdp)


@pytest.fixture
async def yotel() -> AsyncIterator[UserAgent]:
    ua = UserAgent("127.0.0.1", 0)
    await ua.start()
    yield ua
    await ua.close()


def offer() -> bytes:
    return bytes(build_offer("127.0.0.1", 42000, [PCMU]))


async def test_sipp_uas_answers_yotel_invite_and_yotel_hangs_up(yotel: UserAgent) -> None:
    async with sipp_running(scenario="uas") as sipp:
        out = await yotel.invite(f"sip:100@127.0.0.1:{sipp.port}", from_uri="sip:yotel@127.0.0.1",
                                 sdp=offer())
        dialog = await out.wait_answer(10)
        assert SessionDescription.parse(dialog.remote_sdp or b"").media.port == sipp.media_port
        await dialog.bye()
        result = await sipp.wait(20)
    assert result.ok, result.report


async def test_sipp_uac_calls_yotel_and_sipp_hangs_up(yotel: UserAgent) -> None:
    answerer = Answerer()
    yotel.on_invite = answerer
    result = await run_sipp(scenario="uac", remote=yotel.local_address, timeout_s=20)
    assert result.ok, result.report
    dialog = answerer.dialogs.get_nowait()
    await asyncio.wait_for(dialog.terminated.wait(), 5)
    assert dialog.end_reason == "remote_bye"


async def test_sipp_cancels_before_answer(yotel: UserAgent) -> None:
    answerer = Answerer(answer_after=None)
    yotel.on_invite = answerer
    result = await run_sipp(scenario="uac_cancel", remote=yotel.local_address)
    assert result.ok, result.report
    assert answerer.cancelled.is_set()


async def test_yotel_cancels_ringing_call(yotel: UserAgent) -> None:
    async with sipp_running(scenario="uas_cancel") as sipp:
        out = await yotel.invite(f"sip:100@127.0.0.1:{sipp.port}", from_uri="sip:yotel@127.0.0.1",
                                 sdp=offer())
        with pytest.raises(InviteFailed) as info:
            await out.wait_answer(0.8)
        assert info.value.status == 487
        result = await sipp.wait(20)
    assert result.ok, result.report


async def test_yotel_holds_and_resumes_with_reinvite(yotel: UserAgent) -> None:
    async with sipp_running(scenario="uas_hold") as sipp:
        ours = build_offer("127.0.0.1", 42000, [PCMU])
        out = await yotel.invite(f"sip:100@127.0.0.1:{sipp.port}", from_uri="sip:yotel@127.0.0.1",
                                 sdp=bytes(ours))
        dialog = await out.wait_answer(10)
        held = await dialog.reinvite(bytes(with_direction(ours, "sendonly")))
        assert SessionDescription.parse(held).media.direction == "recvonly"
        resumed = await dialog.reinvite(bytes(with_direction(ours, "sendrecv")))
        assert SessionDescription.parse(resumed).media.direction == "sendrecv"
        await dialog.bye()
        result = await sipp.wait(20)
    assert result.ok, result.report


async def test_sipp_puts_yotel_on_hold(yotel: UserAgent) -> None:
    answerer = Answerer()
    yotel.on_invite = answerer
    result = await run_sipp(scenario="uac_reinvite", remote=yotel.local_address)
    assert result.ok, result.report
    assert [r.media.direction for r in answerer.reinvites] == ["sendonly"]


@pytest.mark.parametrize("password,status,qop", [
    ("secret", 200, ""), ("wrong", 403, ""), ("secret", 200, ', qop="auth"'),
    ("wrong", 403, ', qop="auth"'),
])
async def test_digest_challenge_from_sipp(yotel: UserAgent, password: str, status: int,
                                          qop: str) -> None:
    async with sipp_running(scenario="uas_auth", keys={"qop": qop}) as sipp:
        out = await yotel.invite(f"sip:100@127.0.0.1:{sipp.port}", from_uri="sip:yotel@127.0.0.1",
                                 sdp=offer(), credentials=DigestCredentials("trunkuser", password))
        if status == 200:
            dialog = await out.wait_answer(10)
            await dialog.bye()
        else:
            with pytest.raises(InviteFailed) as info:
                await out.wait_answer(10)
            assert info.value.status == status
        result = await sipp.wait(20)
    assert result.ok, result.report


async def test_options_stray_bye_and_unknown_method(yotel: UserAgent) -> None:
    result = await run_sipp(scenario="uac_misc", remote=yotel.local_address)
    assert result.ok, result.report
    assert yotel.stats.rejected_481 == 1
