"""One leg's RTP socket: send 20 ms G.711 frames and RFC 4733 digits, receive the peer's.

The receive path is the media hot path (50 packets/s per call): `datagram_received` reads the
fixed header with one `struct` call, classifies the sequence number, filters by payload type and
hands the payload on without building objects. Anything that does not parse is counted and
dropped; the socket never dies on bad input.

Symmetric RTP (RFC 4961): we send to where the peer's packets come from, which is what reaches
a phone behind NAT whatever its SDP says. The first valid packet latches the address; later
in-order packets of the same stream (SSRC) may move it (a NAT rebinding); a new SSRC is a new
stream from the same address, while a new SSRC from elsewhere is dropped as a stranger until an
SDP change (`set_remote` with a new address) opens the latch again.

`may_send` is the negotiated direction's verdict (RFC 3264 §6.1): when the leg's SDP says we do
not send (a peer's hold answered `recvonly`, or `inactive`), every sender (clocked frames,
bridge relay, DTMF) stops here while receiving goes on; the timestamp keeps running.

RTCP (RFC 3550 §6) goes out of port+1 to the peer's RTCP address (its `a=rtcp`, else its RTP
port+1, then wherever its RTCP comes from): a sender report when we sent RTP since the last one,
else a receiver report, on one timer handle per session at the §6.3.1 interval, and a BYE on
close. The peer's reports give `quality` its loss, jitter and round-trip time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import cast

from yotel.rtp.dtmf import STEP_MS, DtmfReceiver, dtmf_train
from yotel.rtp.packet import HEADER, read_header
from yotel.rtp.ports import RtpPortPool
from yotel.rtp.quality import CallQuality, RtcpReporter
from yotel.rtp.rtcp import (
    MIN_INTERVAL_S,
    RtcpError,
    is_rtcp,
    ntp_timestamp,
    parse_compound,
    report_interval,
)
from yotel.rtp.stats import DUPLICATE, IN_ORDER, STALE, RtpStats, SequenceTracker

log = logging.getLogger(__name__)
Address = tuple[str, int]
AudioCallback = Callable[[bytes, int, int], None]  # payload, rtp timestamp, sequence
DtmfCallback = Callable[[str, int], None]  # digit, duration_ms
_UNPACK = HEADER.unpack_from
_PACK = HEADER.pack
_SILENT_REMOTE = "0.0.0.0"  # RFC 3264 §8.4 (RFC 2543 style hold): do not send
# RFC 3550 §6.2: RTCP gets 5% of the session bandwidth; G.711 at 50 packets/s of 200 octets
# (payload, RTP, UDP, IPv4) is 10000 octets/s.
RTCP_BANDWIDTH = 500.0
_UDP_IP_OVERHEAD = 28  # §6.3.3: the average RTCP size counts lower-layer headers


class _Rtcp(asyncio.DatagramProtocol):
    """RTCP on port+1: handed to its session."""

    def __init__(self, session: RtpSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.session.rtcp_received(data, addr, latch=True)

    def error_received(self, exc: Exception) -> None:
        log.debug("rtcp socket error: %s", exc)


class RtpSession(asyncio.DatagramProtocol):
    """Use `await RtpSession.open(host, pool)`; then `configure(...)` from the SDP exchange."""

    def __init__(self, host: str, port: int, pool: RtpPortPool | None) -> None:
        self.host, self.local_port, self._pool = host, port, pool
        self.stats = RtpStats()
        self.payload_type = 0
        self.dtmf_pt: int | None = None
        self.remote: Address | None = None  # where we send: the SDP's, then the latched one
        self.on_audio: AudioCallback | None = None
        self.on_dtmf: DtmfCallback | None = None
        self._sdp_remote: Address | None = None
        self._on_hold = False  # the peer's SDP said 0.0.0.0
        self._may_send = True  # the negotiated direction lets us send (set by the leg)
        self._silent = False  # either says no: nothing goes out
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp: asyncio.DatagramTransport | None = None
        # RFC 3550 §5.1: random initial sequence number and timestamp, random SSRC (§8.1).
        self._seq = random.randrange(1 << 16)
        self._ts = random.randrange(1 << 32)
        self._ssrc = random.randrange(1, 1 << 32)
        self._marker = True
        self._peer_ssrc = -1
        self._tracker = SequenceTracker(self.stats)
        self._dtmf = DtmfReceiver()
        self._dtmf_sending = False
        self._dtmf_lock = asyncio.Lock()
        self._reporter = RtcpReporter(self._ssrc)
        self._arrived = self._reporter.reception.arrived  # bound once: the hot path calls it
        self._rtcp_remote: Address | None = None
        self._rtcp_timer: asyncio.TimerHandle | None = None
        self._avg_rtcp_size = 128.0  # §6.3.2: "a likely value" before the first packet
        self.rtcp_min_interval = MIN_INTERVAL_S  # §6.2 Tmin; tests shorten it

    @classmethod
    async def open(cls, host: str, pool: RtpPortPool, *, attempts: int = 20) -> RtpSession:
        """Bind the next free pool port (skipping ports the OS refuses) and its RTCP twin.

        Raises `PortsExhausted` when the pool is empty, OSError when `attempts` ports failed.
        """
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            port = pool.allocate()
            session = cls(host, port, pool)
            try:
                await loop.create_datagram_endpoint(lambda s=session: s,  # type: ignore[misc]
                                                    local_addr=(host, port))
            except OSError as exc:
                log.warning("RTP port %s:%d refused (%s); trying another", host, port, exc)
                pool.release(port)  # back of the queue: tried again only after all others
                continue
            await session._open_rtcp()
            return session
        raise OSError(f"could not bind an RTP port on {host} after {attempts} attempts")

    async def _open_rtcp(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):  # RTCP is optional to us; its port may be taken
            self._rtcp, _ = await loop.create_datagram_endpoint(
                lambda: _Rtcp(self), local_addr=(self.host, self.local_port + 1))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that is gone: not fatal, the call decides.
        log.debug("rtp socket error on %s: %s", self.local_port, exc)

    @property
    def closed(self) -> bool:
        return self._transport is None

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def may_send(self) -> bool:
        return self._may_send

    @may_send.setter
    def may_send(self, value: bool) -> None:
        """RFC 3264 §6.1: False while our negotiated direction is recvonly or inactive."""
        self._may_send = value
        self._update_silence()

    def _update_silence(self) -> None:
        silent = self._on_hold or not self._may_send
        if self._silent and not silent:
            self._marker = True  # RFC 3551 §4.1: the first packet after silence is marked
        self._silent = silent

    @property
    def quality(self) -> CallQuality:
        """Our reception figures and the peer's last report about our stream."""
        return self._reporter.quality(self.stats, self._tracker)

    # -- negotiation --------------------------------------------------------------------------
    def configure(self, *, payload_type: int, dtmf_pt: int | None,
                  remote: Address | None, rtcp: Address | None = None) -> None:
        """Apply a negotiation (initial answer or a re-INVITE that moved the media). `rtcp` is
        the peer's RTCP address (RFC 3605 a=rtcp), by default its RTP port + 1 (RFC 3550 §11)."""
        self.payload_type, self.dtmf_pt = payload_type, dtmf_pt
        if remote is not None:
            moved = remote != self._sdp_remote
            self.set_remote(remote)
            if rtcp is None and remote[1]:
                rtcp = (remote[0], remote[1] + 1)
            if rtcp is not None and not self._on_hold and (moved or self._rtcp_remote is None):
                self._rtcp_remote = rtcp
            if self._rtcp_timer is None and self._rtcp is not None:
                self._schedule_rtcp(initial=True)

    def set_remote(self, remote: Address) -> None:
        """The peer's address from its SDP. A re-offer repeating the same address keeps the
        latched one (a NAT'd phone's hold/resume must not break its audio); a new address
        replaces it until the peer's packets latch again. 0.0.0.0 stops sending and leaves the
        latch alone, so resuming to the old address reaches the phone at once."""
        self._on_hold = remote[0] == _SILENT_REMOTE
        self._update_silence()
        if self._on_hold or remote == self._sdp_remote:
            return
        self._sdp_remote = remote
        self.remote = remote
        self._peer_ssrc = -1

    # -- receive ------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) >= 12 and data[0] == 0x80:  # V=2, no padding/extension/CSRC: the norm
            _b0, b1, seq, ts, ssrc = _UNPACK(data)
            payload = data[12:]
        else:  # RFC 3550 §5.1: CSRCs, an extension or padding (P bit)
            header = read_header(data)
            if header is None:
                self._not_rtp(data, addr)
                return
            b1, seq, ts, ssrc = header[0], header[1], header[2], header[3]
            payload = data[header[5]:header[6]]
        pt = b1 & 0x7F
        if pt == self.payload_type:
            if self._accept(seq, ssrc, len(data), addr):
                self._arrived(ts)
                if self.on_audio is not None:
                    try:
                        self.on_audio(payload, ts, seq)
                    except Exception:  # a consumer's bug must not close the socket
                        self._callback_failed()
            if self._dtmf.pending:
                self._report_digits(self._dtmf.poll(asyncio.get_running_loop().time()))
        elif pt == self.dtmf_pt:
            if self._accept(seq, ssrc, len(data), addr):
                self._on_dtmf_packet(ts, payload)
        elif 192 <= b1 <= 223:  # RTCP muxed on this port (RFC 5761 §4)
            self.rtcp_received(data, addr, latch=False)
        else:
            self.stats.unexpected_pt += 1

    def _not_rtp(self, data: bytes, addr: Address) -> None:
        if is_rtcp(data):
            self.rtcp_received(data, addr, latch=False)
        else:
            self.stats.malformed += 1

    def _callback_failed(self) -> None:
        self.stats.callback_errors += 1
        if self.stats.callback_errors == 1:  # once per session: 50 tracebacks a second help nobody
            log.exception("RTP consumer failed on port %s (further failures counted)",
                          self.local_port)

    def _accept(self, seq: int, ssrc: int, size: int, addr: tuple[str, int]) -> bool:
        """Count the packet and latch its source; False for a duplicate, a stale packet, or a
        stranger (a new SSRC from a new address while latched: only an SDP change moves us)."""
        if ssrc != self._peer_ssrc:
            if self._peer_ssrc != -1:
                if addr != self.remote:
                    self.stats.foreign += 1
                    return False
                self.stats.restarts += 1
            self._peer_ssrc = ssrc
            self._tracker.reset()
            self._reporter.reception.reset()
            self.remote = addr
        verdict = self._tracker.update(seq)
        if verdict in (DUPLICATE, STALE):
            return False
        stats = self.stats
        stats.packets_received += 1
        stats.bytes_received += size
        if verdict == IN_ORDER and addr != self.remote:
            self.remote = addr  # the same stream from a new source: the NAT rebound
        return True

    def _on_dtmf_packet(self, timestamp: int, payload: bytes) -> None:
        try:
            digits = self._dtmf.feed(timestamp, payload, asyncio.get_running_loop().time())
        except ValueError:
            self.stats.malformed += 1
            return
        self._report_digits(digits)

    def _report_digits(self, digits: list[tuple[str, int]]) -> None:
        for digit, duration in digits:
            self.stats.dtmf_digits_received += 1
            if self.on_dtmf is not None:
                try:
                    self.on_dtmf(digit, duration)
                except Exception:
                    self._callback_failed()

    # -- send ---------------------------------------------------------------------------------
    def send_frame(self, payload: bytes) -> None:
        """One frame of G.711 (160 bytes = 20 ms). The timestamp advances by its samples even
        while a digit is being sent (the frame is then dropped), so the clock stays true."""
        ts = self._ts
        self._ts = (ts + len(payload)) & 0xFFFFFFFF  # G.711: one byte per sample
        if self._dtmf_sending:
            return
        self._send(self.payload_type, ts, payload, self._marker)
        self._marker = False

    def skip(self, samples: int) -> None:
        """`samples` went by without a packet of ours (the clock skipped periods): the next
        timestamp counts them, and its marker says a gap preceded it (RFC 3550 §5.1: the
        timestamp is the sampling instant; RFC 3551 §4.1)."""
        self._ts = (self._ts + samples) & 0xFFFFFFFF
        self._marker = True

    def new_talkspurt(self) -> None:
        """Mark the next audio packet (RFC 3551 §4.1: first packet after silence)."""
        self._marker = True

    def _send(self, pt: int, ts: int, payload: bytes, marker: bool) -> None:
        transport, remote = self._transport, self.remote
        if remote is None or transport is None or self._silent:
            return
        self._seq = seq = (self._seq + 1) & 0xFFFF
        packet = _PACK(0x80, (pt | 0x80) if marker else pt, seq, ts, self._ssrc) + payload
        transport.sendto(packet, remote)
        stats = self.stats
        stats.packets_sent += 1
        stats.bytes_sent += len(packet)

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        """Send one key press (RFC 4733 §2.5.1) with the negotiated telephone-event PT.

        Audio frames are withheld while it plays; the packets go out every 20 ms against the
        loop clock (no drift from sleep overshoot). Presses are sent one after another.
        """
        if self.dtmf_pt is None:
            raise ValueError("the peer did not negotiate telephone-event")
        train = dtmf_train(digit, duration_ms)  # ValueError for a bad digit, before any send
        if self._silent:  # RFC 3264 §6.1: our direction forbids sending; nothing to play
            return
        loop = asyncio.get_running_loop()
        async with self._dtmf_lock:
            self._dtmf_sending = True
            start, began = self._ts, loop.time()
            try:
                for index, (payload, marker) in enumerate(train):
                    self._send(self.dtmf_pt, start, payload, marker)
                    await asyncio.sleep(max(0.0, began + (index + 1) * STEP_MS / 1000
                                            - loop.time()))
            finally:
                self._dtmf_sending = False
                self._marker = True  # audio after the event is a new talkspurt
                self._resync_clock(start, loop.time() - began)
            self.stats.dtmf_digits_sent += 1

    def _resync_clock(self, start: int, elapsed_s: float) -> None:
        # Nobody may have called send_frame during the press (a leg with no audio source):
        # the timestamp must still cover the time the event took.
        at_least = (start + int(elapsed_s * 8000)) & 0xFFFFFFFF
        if (at_least - self._ts) & 0xFFFFFFFF < 0x80000000:
            self._ts = at_least

    # -- RTCP -------------------------------------------------------------------------------
    def rtcp_received(self, data: bytes, addr: Address, *, latch: bool) -> None:
        """A compound from the peer: counted, its reports kept; on the RTCP port its source
        becomes where ours go (symmetric RTCP, RFC 4961)."""
        try:
            packets = parse_compound(data, reduced_size=True)  # be liberal in what we accept
            self._reporter.peer.take(packets, self._ssrc, ntp_timestamp(),
                                     self._reporter.reception)
        except RtcpError:
            self.stats.malformed += 1
            return
        self.stats.rtcp += 1
        self._avg_rtcp_size += (len(data) + _UDP_IP_OVERHEAD - self._avg_rtcp_size) / 16
        if latch and not self._on_hold:
            self._rtcp_remote = addr

    def _schedule_rtcp(self, *, initial: bool) -> None:
        sending = self._reporter.sending(self.stats)
        receiving = self.stats.packets_received > 0
        interval = report_interval(
            members=2, senders=int(sending) + int(receiving), rtcp_bandwidth=RTCP_BANDWIDTH,
            we_sent=sending, avg_rtcp_size=self._avg_rtcp_size, initial=initial,
            min_interval=self.rtcp_min_interval)
        self._rtcp_timer = asyncio.get_running_loop().call_later(interval, self._rtcp_due)

    def _rtcp_due(self) -> None:
        self._rtcp_timer = None
        if self.closed:
            return
        self._send_rtcp(final=False)
        self._schedule_rtcp(initial=False)

    def _send_rtcp(self, *, final: bool) -> None:
        transport, remote = self._rtcp, self._rtcp_remote
        if transport is None or remote is None or self._on_hold:  # §8.4: 0.0.0.0, no RTCP
            return
        data = self._reporter.compound(self.stats, self._tracker, self._peer_ssrc, self._ts,
                                       ntp_timestamp(), final=final)
        transport.sendto(data, remote)
        self._avg_rtcp_size += (len(data) + _UDP_IP_OVERHEAD - self._avg_rtcp_size) / 16

    def close(self) -> None:
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None
        if self._transport is not None and (self.stats.packets_sent or self._reporter.sent):
            self._send_rtcp(final=True)  # §6.3.7: a BYE only after we sent RTP or RTCP
        for transport in (self._transport, self._rtcp):
            if transport is not None:
                transport.close()
        self._transport = self._rtcp = None
        if self._pool is not None:
            self._pool.release(self.local_port)
            self._pool = None
        self.on_audio = self.on_dtmf = None  # closed: nothing more arrives (and no cycle)
