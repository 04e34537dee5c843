"""`GatedConnection`: websockets' client connection with Yotel's inbound gate and an outbound
fast path. The fork's socket is made of this class (`dial`).

Inbound, every byte after the 101 response goes through a `FrameGate` before websockets parses
it: at most `slice_frames` frames per loop iteration (then it yields with `call_soon`), and
when the session's scan budget is spent the socket stops being read until it refills. Reading
is paused while either the gate or websockets' message queue (its `max_queue`) asks for it.
Everything already received is handed on before an EOF, so a last close frame is never lost.

Outbound, `write_now` puts a frame on the transport at once, without the coroutine and task
hop of `send()`, while the transport is not backed up (websockets' `paused`, set by the
write-buffer high-water mark); otherwise it says no and the caller queues the frame. It frames
the message itself (`client_frame`: a data frame is a header, a masking key and the masked
payload; no extension is negotiated, `dial` sets `compression=None`), with masking keys read
from the OS's CSPRNG in bulk: websockets asks it for four bytes per frame, a system call per
frame that was a tenth of the media clock's time at 100 calls.

Besides `connect(create_connection=...)` (documented), this relies on websockets' connection
internals `protocol` (its `state`), `paused`, `send_data()` and `recv_messages.pause/resume`
(checked with websockets 17.4; the fork's socket tests fail loudly if an upgrade changes them).
Every message Yotel sends is whole, never fragmented, so a frame written here never lands
inside another message.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Callable
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

try:  # websockets' C masking, else its pure-Python one
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a platform without the compiled extension
    from websockets.utils import apply_mask

from yotel.fork.gate import FrameGate
from yotel.fork.limits import Admission, ForkLimits

PROTOCOL_VIOLATION = 4000  # PRODUCT.md §6.7: the close codes Yotel uses
TOKEN_INVALID = 4001
CALL_ENDED = 4009
_UPGRADED = b"HTTP/1.1 101"
_MAX_PENDING = 1 << 18  # bytes the gate may hold unread before the socket stops being read
OP_TEXT, OP_BINARY = 0x1, 0x2  # RFC 6455 §5.2 opcodes


class MaskingKeys:
    """RFC 6455 §5.3: each client frame is masked with a fresh key "derived from a strong source
    of entropy" that the server cannot predict; keys are cut from `os.urandom` read in bulk."""

    def __init__(self, bulk: int = 4096) -> None:
        self._bulk = bulk
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(self._bulk), 0
        key = self._pool[self._at:self._at + 4]
        self._at += 4
        return key


_KEYS = MaskingKeys()


def client_frame(data: bytes, *, text: bool = False, key: bytes | None = None) -> bytes:
    """One unfragmented, masked client data frame (RFC 6455 §5.2)."""
    key = key or _KEYS.next()
    first = 0x80 | (OP_TEXT if text else OP_BINARY)  # FIN, no RSV bits
    size = len(data)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, size)
    return head + key + apply_mask(data, key)


class GatedConnection(ClientConnection):
    limits: ClassVar[ForkLimits] = ForkLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.admission = Admission(self.limits, self.loop.time())
        self.gate = FrameGate(self.admission)
        self.on_gate: Callable[[], None] | None = None  # drops, cuts or a violation to report
        self._head = b""  # the HTTP response head until its end is seen
        self._gated = False
        self._holds: set[str] = set()  # why reading is paused: "queue", "gate"
        self._pump_at: asyncio.TimerHandle | asyncio.Handle | None = None

    @classmethod
    def with_limits(cls, limits: ForkLimits) -> type[GatedConnection]:
        """A subclass whose connections use `limits` (websockets builds the connection from a
        class, `connect(create_connection=...)`)."""
        if limits == cls.limits:
            return cls
        return type("GatedConnection", (cls,), {"limits": limits})

    # -- reading ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # websockets' message queue pauses reading when full; it must not resume reading
        # while the gate holds it paused, so both go through `_hold`.
        self.recv_messages.pause = lambda: self._hold("queue", True)
        self.recv_messages.resume = lambda: self._hold("queue", False)

    def _hold(self, reason: str, hold: bool) -> None:
        was = bool(self._holds)
        if hold:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        if bool(self._holds) != was and not self.transport.is_closing():
            if hold:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if not self._gated:
            data = self._response_head(data)
            if not data:
                return
        self.gate.feed(data)
        if self._pump_at is None:
            self._pump()

    def _response_head(self, data: bytes) -> bytes:
        """Hand the HTTP response to websockets; what follows a 101 is for the gate."""
        before = len(self._head)
        seen = self._head + data
        end = seen.find(b"\r\n\r\n")
        if end < 0 or not seen.startswith(_UPGRADED):
            # Still the head (websockets bounds its size and fails a huge one), or a refusal
            # whose body websockets reads itself: no frames to gate either way.
            self._head = seen[:_MAX_PENDING] if end < 0 else b""
            super().data_received(data)
            return b""
        split = end + 4 - before
        self._head, self._gated = b"", True
        super().data_received(data[:split])
        return data[split:]

    def _pump(self) -> None:
        self._pump_at = None
        if self.protocol.state is State.CLOSED:
            return
        gate, now = self.gate, self.loop.time()
        data = gate.pump(now, self.limits.slice_frames)
        if data:
            super().data_received(data)
        if gate.more:  # a full slice: let the other calls run, then go on
            # Reading goes on (pausing costs two syscalls a slice) unless a backlog builds up.
            self._hold("gate", gate.pending > _MAX_PENDING)
            self._pump_at = self.loop.call_soon(self._pump)
        elif gate.starved:  # over the scan budget: stop reading until it refills
            self._hold("gate", True)
            wait = self.admission.scan.wait_s(now, self.limits.slice_frames)
            self._pump_at = self.loop.call_later(wait, self._pump)
        else:
            self._hold("gate", False)
        if self.on_gate is not None and (self.admission.has_news or gate.violation):
            self.on_gate()

    def eof_received(self) -> None:
        # Whatever the gate still holds came before the EOF: hand it on first.
        if self._pump_at is not None:
            self._pump_at.cancel()
            self._pump_at = None
        data = self.gate.pump(self.loop.time(), 1 << 62, scan=False)
        if data and self.protocol.state is not State.CLOSED:
            super().data_received(data)
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._pump_at is not None:
            self._pump_at.cancel()
            self._pump_at = None
        super().connection_lost(exc)
        # Nothing more to gate or report: drop the references that tie us to our fork and
        # to ourselves, so a closed connection is freed by reference counting.
        self.on_gate = None
        self.recv_messages.pause = self.recv_messages.resume = _nothing

    # -- writing ------------------------------------------------------------------------------
    def write_now(self, data: bytes, *, text: bool = False) -> bool:
        """Write one frame now if the socket is open and not backed up; False: queue it."""
        if self.paused or self.protocol.state is not State.OPEN or self.transport.is_closing():
            return False
        self.send_data()  # anything websockets queued (a pong) goes first
        self.transport.write(client_frame(data, text=text))
        return True


def _nothing() -> None:
    """A closed connection's reading is neither paused nor resumed any more."""
