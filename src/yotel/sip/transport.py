"""The SIP UDP endpoint (RFC 3261 §18): one socket, parse on the way in, count what fails.

Bad input never escapes this layer: a datagram that does not parse, or that the user agent
refuses with `ValueError` while routing it, is counted in `SipStats.malformed_dropped` and
dropped (the socket-layer habit of docs/architecture.md). One that does not parse is first shown
to `on_malformed`, which may still answer it (a 400 for a request whose head reads).

Nothing leaves larger than one UDP datagram can carry (`MAX_DATAGRAM`): RFC 3261 §18.1.1 would
move such a message to TCP, which we do not offer, so it is counted in `oversize_dropped` and
logged instead of vanishing in the kernel (docs/media.md, "SIP decisions").
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from yotel.sip.address import SipUri
from yotel.sip.message import SipParseError, SipRequest, SipResponse, parse_message

log = logging.getLogger(__name__)
Address = tuple[str, int]
MessageHandler = Callable[[SipRequest | SipResponse, Address], None]
MalformedHandler = Callable[[bytes, Address, SipParseError], None]
MAX_DATAGRAM = 65_507  # the largest UDP payload over IPv4
# Signalling arrives in bursts (a campaign starting, a trunk failing over); a roomy kernel
# buffer keeps a burst from being dropped and then recovered only by Timer A/E retransmits.
RECEIVE_BUFFER = 2 * 1024 * 1024


@dataclass
class SipStats:
    received: int = 0
    sent: int = 0
    malformed_dropped: int = 0
    stray_responses: int = 0
    rejected_481: int = 0
    # answered with an error instead of processed: 400 (also for unparseable requests whose
    # head reads, which count in malformed_dropped too), 405, 406, 415, 416, 420, 501, 505, 513
    rejected_bad_request: int = 0
    handler_errors: int = 0  # a bug of ours while routing a message: logged, socket kept
    oversize_dropped: int = 0  # a message of ours too large for one datagram: logged, not sent
    refused_stateless: int = 0  # new INVITEs refused before any transaction (admission control)


class UdpTransport(asyncio.DatagramProtocol):
    def __init__(self, on_message: MessageHandler, stats: SipStats | None = None, *,
                 on_malformed: MalformedHandler | None = None) -> None:
        self._on_message = on_message
        self._on_malformed = on_malformed
        self.stats = stats or SipStats()
        self._transport: asyncio.DatagramTransport | None = None
        self.local_address: Address = ("", 0)

    async def open(self, host: str, port: int) -> Address:
        """Bind `host:port` (0: ephemeral); returns the bound address."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        return self.local_address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # capped by net.core.rmem_max; best effort
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        name = transport.get_extra_info("sockname")
        self.local_address = (str(name[0]), int(name[1]))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.received += 1
        if not data.strip():
            return  # keep-alive CRLF (RFC 5626 §4.4.1)
        source = (addr[0], addr[1])
        try:
            message = parse_message(data)
        except ValueError as exc:  # SipParseError, or any other refusal of the bytes
            self.stats.malformed_dropped += 1
            log.debug("malformed SIP from %s: %s", addr, exc)
            if isinstance(exc, SipParseError):
                self._deliver_malformed(data, source, exc)
            return
        try:
            self._on_message(message, source)
        except ValueError as exc:
            self.stats.malformed_dropped += 1
            log.debug("dropped malformed SIP from %s: %s", addr, exc)
        except Exception:
            # Anything else is our bug, not the peer's: it costs this one message, and is
            # counted and logged with the sender here rather than left to the event loop's
            # exception handler, which knows neither.
            self.stats.handler_errors += 1
            log.exception("error handling SIP from %s", addr)

    def _deliver_malformed(self, data: bytes, source: Address, error: SipParseError) -> None:
        if self._on_malformed is None:
            return
        try:
            self._on_malformed(data, source, error)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("error answering malformed SIP from %s", source)

    def error_received(self, exc: Exception) -> None:
        log.debug("sip socket error: %s", exc)  # ICMP unreachable from a vanished peer

    def send(self, data: bytes, address: Address) -> None:
        if len(data) > MAX_DATAGRAM:
            self.stats.oversize_dropped += 1
            log.warning("not sending a %d-byte SIP message to %s: larger than one UDP datagram "
                        "(%d) and we have no TCP (RFC 3261 §18.1.1)", len(data), address,
                        MAX_DATAGRAM)
            return
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, address)
            self.stats.sent += 1

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


async def resolve(uri: SipUri) -> Address:
    """An address for the Request-URI's host (A/AAAA only: no RFC 3263 NAPTR/SRV). Raises
    OSError when the name does not resolve."""
    host, port = uri.address
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"no address for {host}")
    return str(infos[0][4][0]), port
