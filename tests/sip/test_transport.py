"""The SIP UDP endpoint: whatever goes wrong handling one datagram costs that datagram only."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from yotel.sip.message import SipRequest, SipResponse, parse_message
from yotel.sip.transport import MAX_DATAGRAM, SipStats, UdpTransport
from yotel.sip.ua import UserAgent

from .test_message import SIPP_INVITE


async def test_bad_bytes_and_handler_bugs_are_counted_and_the_socket_lives(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[SipRequest | SipResponse] = []
    done = asyncio.Event()

    def on_message(message: SipRequest | SipResponse, source: tuple[str, int]) -> None:
        seen.append(message)
        if len(seen) == 1:
            raise RuntimeError("a bug while routing")
        if len(seen) == 2:
            raise ValueError("refused while routing")  # e.g. a header unreadable on use
        done.set()

    stats = SipStats()
    transport = UdpTransport(on_message, stats)
    host, port = await transport.open("127.0.0.1", 0)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with caplog.at_level(logging.ERROR, logger="yotel.sip.transport"):
            for data in (b"garbage", b"\r\n\r\n", SIPP_INVITE, SIPP_INVITE, SIPP_INVITE):
                sender.sendto(data, (host, port))
            await asyncio.wait_for(done.wait(), 3)
        assert len(seen) == 3  # the socket survived the bug and kept delivering
        assert (stats.received, stats.malformed_dropped, stats.handler_errors) == (5, 2, 1)
        assert "a bug while routing" in caplog.text
    finally:
        sender.close()
        transport.close()


async def test_a_datagram_too_large_for_udp_is_counted_and_logged_not_lost_silently(
        caplog: pytest.LogCaptureFixture) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    stats = SipStats()
    transport = UdpTransport(lambda message, source: None, stats)
    await transport.open("127.0.0.1", 0)
    try:
        with caplog.at_level(logging.WARNING, logger="yotel.sip.transport"):
            transport.send(b"x" * (MAX_DATAGRAM + 1), receiver.getsockname())
            transport.send(b"y" * MAX_DATAGRAM, receiver.getsockname())  # the largest that fits
        got = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(receiver, 70_000), 3)
        assert got == b"y" * MAX_DATAGRAM
        assert (stats.sent, stats.oversize_dropped) == (1, 1)
        assert "larger than one UDP datagram" in caplog.text
    finally:
        transport.close()
        receiver.close()


async def test_a_request_too_large_to_answer_gets_513_over_the_wire() -> None:
    # checks.MAX_REQUEST: a request whose answer could not fit one datagram is refused
    # (RFC 3261 §21.5.4) before anything is done, with a small 513 that does fit.
    async with UserAgent("127.0.0.1", 0) as ua:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        sender.setblocking(False)
        port = sender.getsockname()[1]
        data = (f"OPTIONS sip:ua@127.0.0.1:{ua.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbig\r\nMax-Forwards: 70\r\n"
                "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:ua@127.0.0.1>\r\nCall-ID: big\r\n"
                f"CSeq: 1 OPTIONS\r\nX-Pad: {'p' * 62_000}\r\nContent-Length: 0\r\n\r\n")
        try:
            sender.sendto(data.encode(), ua.local_address)
            loop = asyncio.get_running_loop()
            answer = parse_message(await asyncio.wait_for(loop.sock_recv(sender, 70_000), 3))
            assert isinstance(answer, SipResponse) and answer.status == 513
            assert len(bytes(answer)) < 1300 and answer.call_id == "big"
        finally:
            sender.close()
