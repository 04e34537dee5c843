"""A scriptable SIP phone for engine tests: yotel.sip's UserAgent + an RtpSession that sends a
tone in real time and timestamps every packet it receives."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from yotel.rtp.ports import RtpPortPool
from yotel.rtp.session import RtpSession
from yotel.sip.dialog import Dialog
from yotel.sip.invite import IncomingInvite
from yotel.sip.sdp import SessionDescription, accept_answer, answer, build_offer
from yotel.sip.ua import UserAgent
from yotel.testing.audio import dominant_frequency as dominant_hz
from yotel.testing.audio import tone_g711 as tone

__all__ = ["Phone", "dominant_hz", "tone"]


@dataclass
class Phone:
    pool: RtpPortPool
    answer_mode: str = "answer"  # answer | busy | ring
    answer_delay_s: float = 0.0
    ua: UserAgent = field(init=False)
    rtp: RtpSession | None = None
    dialog: Dialog | None = None
    received: list[tuple[float, bytes]] = field(default_factory=list)
    stamps: list[tuple[int, int]] = field(default_factory=list)  # received (sequence, timestamp)
    digits: list[str] = field(default_factory=list)
    invites: list[IncomingInvite] = field(default_factory=list)
    invited: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    _sender: asyncio.Task[None] | None = None

    async def start(self) -> Phone:
        self.ua = UserAgent("127.0.0.1", 0, on_invite=self._on_invite)
        await self.ua.start()
        return self

    @property
    def uri(self) -> str:
        return f"sip:phone@127.0.0.1:{self.ua.port}"

    async def _open_rtp(self) -> RtpSession:
        self.rtp = await RtpSession.open("127.0.0.1", self.pool)
        self.rtp.on_audio = self._on_audio
        self.rtp.on_dtmf = lambda digit, _ms: self.digits.append(digit)
        return self.rtp

    def _on_audio(self, payload: bytes, timestamp: int, sequence: int) -> None:
        self.received.append((asyncio.get_running_loop().time(), payload))
        self.stamps.append((sequence, timestamp))

    async def _on_invite(self, incoming: IncomingInvite) -> None:
        self.invites.append(incoming)
        self.invited.set()
        await incoming.ringing()
        if self.answer_mode == "busy":
            await incoming.reject(486)
            return
        if self.answer_mode == "ring":
            await incoming.cancelled.wait()  # never answers: the caller must CANCEL
            return
        await asyncio.sleep(self.answer_delay_s)
        rtp = await self._open_rtp()
        offer = SessionDescription.parse(incoming.offer or b"")
        sdp, negotiated = answer(offer, "127.0.0.1", rtp.local_port, ["PCMU", "PCMA"])
        rtp.configure(payload_type=negotiated.payload_type, dtmf_pt=negotiated.dtmf_pt,
                      remote=(negotiated.remote_address, negotiated.remote_port))
        self.dialog = await incoming.accept(bytes(sdp))
        self.dialog.on_reinvite = self._on_reinvite
        self.answered.set()

    async def _on_reinvite(self, offer: bytes | None) -> bytes:
        assert self.rtp is not None and offer is not None
        sdp, _ = answer(SessionDescription.parse(offer), "127.0.0.1", self.rtp.local_port,
                        ["PCMU", "PCMA"])
        return bytes(sdp)

    async def call(self, uri: str, codecs: list[str] | None = None) -> Dialog:
        rtp = await self._open_rtp()
        offer = build_offer("127.0.0.1", rtp.local_port, codecs or ["PCMU"])
        outgoing = await self.ua.invite(uri, from_uri="sip:phone@127.0.0.1", sdp=bytes(offer))
        self.dialog = await outgoing.wait_answer(timeout=10)
        negotiated = accept_answer(offer, SessionDescription.parse(self.dialog.remote_sdp or b""))
        rtp.configure(payload_type=negotiated.payload_type, dtmf_pt=negotiated.dtmf_pt,
                      remote=(negotiated.remote_address, negotiated.remote_port))
        self.answered.set()
        return self.dialog

    def send_audio(self, audio: bytes) -> None:
        """Stream `audio` in real time (20 ms frames, deadline-paced), looping."""
        self._sender = asyncio.ensure_future(self._send_loop(audio))

    async def _send_loop(self, audio: bytes) -> None:
        assert self.rtp is not None
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while True:
            offset = (n * 160) % len(audio)
            self.rtp.send_frame(audio[offset:offset + 160])
            n += 1
            await asyncio.sleep(max(start + n * 0.02 - loop.time(), 0))

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        if self.rtp is not None:
            self.rtp.close()
        await self.ua.close()
