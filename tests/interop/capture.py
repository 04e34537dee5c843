"""Capture UDP datagrams on the loopback interface (AF_PACKET, needs CAP_NET_RAW): what a
third-party peer such as sipp actually received, timed on our loop."""

from __future__ import annotations

import asyncio
import socket
import struct

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4  # loopback shows each packet twice: keep the incoming copy


class UdpCapture:
    def __init__(self, *, src_port: int) -> None:
        self.src_port = src_port
        self.packets: list[tuple[float, bytes]] = []  # (time, UDP payload)
        self._sock: socket.socket | None = None

    def start(self) -> UdpCapture:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(ETH_P_ALL))
        sock.bind(("lo", 0))
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)
        return self

    def _read(self) -> None:
        assert self._sock is not None
        now = asyncio.get_running_loop().time()
        while True:
            try:
                data, address = self._sock.recvfrom(65535)
            except BlockingIOError:
                return
            if address[2] != PACKET_OUTGOING:
                self._parse(now, data)

    def _parse(self, now: float, frame: bytes) -> None:
        if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 17:  # IPv4 UDP
            return
        ihl = (frame[14] & 0x0F) * 4
        src, _dst = struct.unpack_from("!HH", frame, 14 + ihl)
        if src == self.src_port:
            self.packets.append((now, frame[14 + ihl + 8:]))

    def stop(self) -> None:
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
