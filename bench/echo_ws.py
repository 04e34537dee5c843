"""A minimal WebSocket echo server (RFC 6455) for the benchmark's voice AI: the handshake with
the subprotocol, binary frames echoed (those `on_binary` says to), pings answered, close
answered. Nothing else (no extensions, no fragmentation: Yotel's fork sends neither).

Why not the `websockets` server: at 200 calls the echo AI shares the 2-core machine with Yotel
and the load generator, and the library's per-message machinery (a task wake-up, a lock and an
assembler per frame) costs it about three times the CPU of this loop over one buffer, CPU taken
from the engine being measured. Yotel's side is unchanged: its fork still speaks to a conforming
WebSocket server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Callable

from websockets.speedups import apply_mask  # the library's C unmasking loop

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
BINARY, TEXT, CLOSE, PING, PONG = 0x2, 0x1, 0x8, 0x9, 0xA
OnBinary = Callable[[bytes], bool]  # True: echo it


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def frame(opcode: int, payload: bytes) -> bytes:
    """A server frame: FIN set, unmasked (§5.1: servers never mask)."""
    size = len(payload)
    if size < 126:
        return bytes((0x80 | opcode, size)) + payload
    if size < 65536:
        return bytes((0x80 | opcode, 126)) + struct.pack("!H", size) + payload
    return bytes((0x80 | opcode, 127)) + struct.pack("!Q", size) + payload


class EchoServerProtocol(asyncio.Protocol):
    """One connection: handshake, then every binary message goes straight back."""

    def __init__(self, subprotocol: str, on_binary: OnBinary, on_open: Callable[[], None]) -> None:
        self.subprotocol = subprotocol
        self.on_binary = on_binary
        self.on_open = on_open
        self.buffer = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            self._handshake()
        if self.open:
            self._frames()

    def _handshake(self) -> None:
        assert self.transport is not None
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[:end + 4]
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
        key = headers.get("sec-websocket-key", "").encode()
        lines = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket",
                 b"Connection: Upgrade", b"Sec-WebSocket-Accept: " + accept_key(key)]
        if self.subprotocol in offered:
            lines.append(b"Sec-WebSocket-Protocol: " + self.subprotocol.encode())
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n")
        self.open = True
        self.on_open()

    def _frames(self) -> None:
        buffer, transport = self.buffer, self.transport
        assert transport is not None
        while len(buffer) >= 6:  # a client frame has at least 2 header bytes and a 4-byte mask
            opcode, size, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                size, at = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                size, at = struct.unpack_from("!Q", buffer, 2)[0], 10
            end = at + 4 + size
            if len(buffer) < end:
                return
            payload = apply_mask(bytes(buffer[at + 4:end]), bytes(buffer[at:at + 4]))
            del buffer[:end]
            if opcode == BINARY:
                if self.on_binary(payload):
                    transport.write(frame(BINARY, payload))
            elif opcode == PING:
                transport.write(frame(PONG, payload))
            elif opcode == CLOSE:
                transport.write(frame(CLOSE, payload[:2]))
                transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
