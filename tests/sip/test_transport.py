"""The SIP UDP endpoint: whatever goes wrong handling one datagram costs that datagram only."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from yotel.sip.message import SipRequest, SipResponse
from yotel.sip.transport import SipStats, UdpTransport

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
