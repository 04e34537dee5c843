"""RFC 4475 torture messages (tests/sip/torture/*.dat) sent over a real UDP socket to a live
user agent: each is answered as the RFC expects of a UAS. Valid but unusual messages are
processed (200, 481 for an unknown dialog, the application's own answer to an INVITE) or
refused for what they ask (405 a method we do not serve, 501 an unknown one); invalid ones get
400 (505 for another SIP version), never silence, never the application, never a 415 or 416
for broken syntax; responses are never answered and are dropped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from yotel.sip.invite import IncomingInvite
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

TORTURE = Path(__file__).parent / "torture"
FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
DROPPED = 0
APP = 486  # our application's answer to an INVITE that reached it

# name: (RFC 4475 section, expected final status or DROPPED)
EXPECTED: dict[str, tuple[str, int]] = {
    # 3.1.1 valid messages: accepted, or refused for what they ask, never as malformed
    "wsinv": ("3.1.1.1", 481),  # well formed; its To tag names no dialog of ours
    "intmeth": ("3.1.1.2", 501),  # extension method of token characters
    "esc01": ("3.1.1.3", APP),
    "escnull": ("3.1.1.4", 405),  # REGISTER: we are no registrar
    "esc02": ("3.1.1.5", 501),  # RE%47IST%45R is not REGISTER
    "lwsdisp": ("3.1.1.6", 200),
    "longreq": ("3.1.1.7", APP),
    "dblreq": ("3.1.1.8", 405),  # the INVITE after Content-Length: 0 is ignored
    "semiuri": ("3.1.1.9", 200),
    "transports": ("3.1.1.10", 200),
    "mpart01": ("3.1.1.11", 405),  # MESSAGE, binary multipart body framed right
    "unreason": ("3.1.1.12", DROPPED),  # responses: read, matched to nothing, never answered
    "noreason": ("3.1.1.13", DROPPED),
    # 3.1.2 invalid messages
    "badinv01": ("3.1.2.1", 400),
    "clerr": ("3.1.2.2", 400),
    "ncl": ("3.1.2.3", 400),
    "scalar02": ("3.1.2.4", 400),
    "scalarlg": ("3.1.2.5", DROPPED),
    "quotbal": ("3.1.2.6", 400),
    "ltgtruri": ("3.1.2.7", 400),
    "lwsruri": ("3.1.2.8", 400),
    "lwsstart": ("3.1.2.9", 400),
    "trws": ("3.1.2.10", 400),
    "escruri": ("3.1.2.11", 400),
    "baddate": ("3.1.2.12", 400),
    "regbadct": ("3.1.2.13", 400),
    "badaspec": ("3.1.2.14", 400),
    "baddn": ("3.1.2.15", 400),
    "badvers": ("3.1.2.16", 505),
    "mismatch01": ("3.1.2.17", 400),
    "mismatch02": ("3.1.2.18", 501),  # unknown method: 501 preferred to 400
    "bigcode": ("3.1.2.19", DROPPED),
    # 3.2 transaction layer: a bare z9hG4bK falls back to RFC 2543 matching
    "badbranch": ("3.2.1", 200),
    # 3.3 application layer
    "insuf": ("3.3.1", 400),
    "unkscm": ("3.3.2", 416),
    "novelsc": ("3.3.3", 416),
    "unksm2": ("3.3.4", 405),  # isbn:, http:, name: URIs parse; REGISTER is not served
    "bext01": ("3.3.5", 420),
    "invut": ("3.3.6", 415),
    "regaut01": ("3.3.7", 405),
    "multi01": ("3.3.8", 400),
    "mcl01": ("3.3.9", 400),
    "bcast": ("3.3.10", DROPPED),
    "zeromf": ("3.3.11", 200),  # Max-Forwards: 0 stops proxies, not the UAS it reached
    "cparam01": ("3.3.12", 405),
    "cparam02": ("3.3.13", 405),
    "regescrt": ("3.3.14", 405),
    "sdp01": ("3.3.15", 406),  # accepts no SDP, so cannot read our answer
    # 3.4 backward compatibility
    "inv2543": ("3.4.1", APP),
}


class Peer(asyncio.DatagramProtocol):
    """A raw UDP peer reading only status lines: some answers to broken requests cannot carry
    what they lack (RFC 4475 §3.3.1 has no Call-ID to copy)."""

    def __init__(self) -> None:
        self.statuses: asyncio.Queue[int] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        first = data.split(b"\r\n", 1)[0].split(b" ")
        assert first[0] == b"SIP/2.0", data[:80]  # we only ever answer, never ask
        self.statuses.put_nowait(int(first[1]))

    async def final(self, timeout: float) -> int | None:
        try:
            while (status := await asyncio.wait_for(self.statuses.get(), timeout)) < 200:
                pass
        except TimeoutError:
            return None
        return status


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Peer,
                                                              local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


def test_every_rfc_4475_message_has_a_fixture_and_an_answer() -> None:
    assert sorted(p.stem for p in TORTURE.glob("*.dat")) == sorted(EXPECTED)
    assert len(EXPECTED) == 49


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_torture_message_is_answered_as_rfc_4475_expects(name: str, peer: Peer) -> None:
    section, expected = EXPECTED[name]
    reached: list[str] = []

    async def application(incoming: IncomingInvite) -> None:
        reached.append(incoming.request.call_id)
        await incoming.reject(APP)

    async with UserAgent("127.0.0.1", 0, timers=FAST, on_invite=application) as ua:
        before = ua.stats.malformed_dropped + ua.stats.stray_responses
        peer.transport.sendto((TORTURE / f"{name}.dat").read_bytes(), ua.local_address)
        status = await peer.final(0.4 if expected == DROPPED else 3.0)
        assert (status or DROPPED) == expected, f"RFC 4475 §{section} {name}"
        assert len(reached) == (1 if expected == APP else 0), f"§{section}: app saw {reached}"
        if expected == DROPPED:  # read and counted, not lost without a trace
            assert ua.stats.malformed_dropped + ua.stats.stray_responses == before + 1
        assert ua.stats.handler_errors == 0
