"""The SIP UDP endpoint (RFC 3261 §18): one socket, parse on the way in, count what fails.

Bad input never escapes this layer: a datagram that does not parse, or that the user agent
refuses with `ValueError` while routing it, is counted in `SipStats.malformed_dropped` and
dropped (the socket-layer habit of docs/architecture.md).
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
from yotel.sip.message import SipRequest, SipResponse, parse_message

log = logging.getLogger(__name__)
Address = tuple[str, int]
MessageHandler = Callable[[SipRequest | SipResponse, Address], None]
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
    rejected_bad_request: int = 0  # parseable but unacceptable: 400, 415, 416, 420
    handler_errors: int = 0  # a bug of ours while routing a message: logged, socket kept


class UdpTransport(asyncio.DatagramProtocol):
    def __init__(self, on_message: MessageHandler, stats: SipStats | None = None) -> None:
        self._on_message = on_message
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
        try:
            self._on_message(parse_message(data), (addr[0], addr[1]))
        except ValueError as exc:
            self.stats.malformed_dropped += 1
            log.debug("dropped malformed SIP from %s: %s", addr, exc)
        except Exception:
            # Anything else is our bug, not the peer's: it costs this one message, and is
            # counted and logged with the sender here rather than left to the event loop's
            # exception handler, which knows neither.
            self.stats.handler_errors += 1
            log.exception("error handling SIP from %s", addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("sip socket error: %s", exc)  # ICMP unreachable from a vanished peer

    def send(self, data: bytes, address: Address) -> None:
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
