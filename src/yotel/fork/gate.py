"""`FrameGate`: reads the AI's byte stream frame by frame (RFC 6455 §5.2) in front of the
websockets protocol, so `Admission` decides about each message before anything is parsed,
assembled or queued. No I/O; time is passed in.

- A message `Admission` drops is skipped whole, payload unread by websockets (its fragments too).
- A binary message longer than it allows is cut: the frame's length is rewritten and the rest of
  its payload skipped, so an AI may send one message of any length (PRODUCT.md §6.4) and memory
  stays bounded by the 60 s cap, not by the message.
- A text message over `max_text_bytes` in one frame is skipped (the fork answers it with an
  `error`); one that grows past it in fragments cannot be cut at a character boundary, so it
  is a protocol `violation` (the fork closes 4000).
- Pings and pongs over the message rate are skipped: RFC 6455 §5.5.3 lets an endpoint answer
  only the latest of several pings.
- Close frames, masked frames and malformed ones pass unchanged: websockets answers them.

`pump(now, max_frames)` handles at most `max_frames` frames per call and stops when the scan
bucket is empty, so the caller can yield the loop or stop reading.
"""

from __future__ import annotations

from yotel.fork.limits import Admission

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_FIN = 0x80
_MASK = 0x80


class _Same:
    """The frame's own header, passed on unchanged (no copy)."""


SAME = _Same()
Header = bytes | _Same


def frame_header(first_byte: int, length: int) -> bytes:
    """An unmasked frame header (RFC 6455 §5.2) with `length` written in the shortest form."""
    if length < 126:
        return bytes((first_byte, length))
    if length < 1 << 16:
        return bytes((first_byte, 126)) + length.to_bytes(2, "big")
    return bytes((first_byte, 127)) + length.to_bytes(8, "big")


def _read_header(buf: bytearray, pos: int) -> tuple[int, int, bool] | None:
    """(header length, payload length, masked) of the frame at `pos`; None if incomplete."""
    available = len(buf) - pos
    if available < 2:
        return None
    second = buf[pos + 1]
    length, size = second & 0x7F, 2
    if length == 126:
        size = 4
        if available < size:
            return None
        length = int.from_bytes(buf[pos + 2:pos + 4], "big")
    elif length == 127:
        size = 10
        if available < size:
            return None
        length = int.from_bytes(buf[pos + 2:pos + 10], "big")
    masked = bool(second & _MASK)
    if masked:
        size += 4
    return (size, length, masked) if available >= size else None


def _whole_audio_frame(buf: bytearray, pos: int, size: int) -> int:
    """The end of the frame at `pos` if it is a whole, final, unmasked binary frame under
    64 KiB (what a well-behaved AI sends); 0 if not (or not all here yet)."""
    if size - pos < 2 or buf[pos] != 0x80 | BINARY:
        return 0
    length = buf[pos + 1]  # no mask bit: a server's frames are unmasked (RFC 6455 §5.1)
    if length < 126:
        end = pos + 2 + length
    elif length == 126 and size - pos >= 4:
        end = pos + 4 + (buf[pos + 2] << 8 | buf[pos + 3])
    else:
        return 0
    return end if end <= size else 0


class FrameGate:
    """One socket's inbound frame filter; `feed` bytes in, `pump` bytes out for websockets."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._buf = bytearray()
        self._out: list[bytes] = []  # pieces for websockets, and the run of bytes kept as is:
        self._run = (0, 0)  # [start, end) of `_buf` passed unchanged, not yet in `_out`
        self._header = (0, 0)  # [start, end) of the current frame's header in `_buf`
        self._pass = 0  # payload bytes of the current frame still to pass on
        self._skip = 0  # payload bytes of the current frame still to drop
        self._open: str | None = None  # a fragmented message: "binary" | "text" | "drop"
        self._left = 0  # bytes the open binary message may still pass (its cap)
        self._text_size = 0
        self.violation: str | None = None
        self.frames = 0
        self.starved = False  # the last pump stopped on the scan budget
        self.more = False  # the last pump stopped after `max_frames` with frames left

    @property
    def pending(self) -> int:
        """Bytes received and not yet handled."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pump(self, now: float, max_frames: int, *, scan: bool = True) -> bytes:
        """Handle buffered frames (at most `max_frames`, each taking a scan token unless
        `scan` is False); the bytes websockets should see."""
        buf, out, admission = self._buf, self._out, self.admission
        scan_bucket, messages, audio = admission.scan, admission.messages, admission.audio
        for bucket in (scan_bucket, messages, audio):
            bucket.refill(now)  # once: `now` is the same for the whole pump
        cap, size = admission.limits.max_binary_bytes, len(buf)
        pos, frames = 0, 0
        self.starved = self.more = False
        self._run = (0, 0)
        while self.violation is None:
            if self._pass or self._skip:
                pos = self._payload(buf, pos)
                if self._pass or self._skip:
                    break  # waiting for payload bytes
            if frames >= max_frames:
                break
            end = _whole_audio_frame(buf, pos, size) if self._open is None else 0
            if (end and (not scan or scan_bucket.tokens >= 1) and messages.tokens >= 1
                    and audio.tokens >= end - pos and end - pos <= cap):
                # The common case, inline: a whole final binary frame within every limit.
                scan_bucket.tokens -= scan
                messages.tokens -= 1
                audio.tokens -= end - pos
                self._keep(pos, end)
                pos, frames = end, frames + 1
                continue
            header = _read_header(buf, pos)
            if header is None:
                break
            if scan and not scan_bucket.take(now):
                self.starved = True
                break
            frames += 1
            head, length, masked = header
            self._header = (pos, pos + head)
            self._frame(buf[pos], SAME, length, masked, now)
            pos += head
        self._flush()
        # Well-behaved traffic is one run of unchanged bytes: one copy, no join.
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        del buf[:pos]
        self.more = frames >= max_frames and bool(buf)
        self.frames += frames
        return data

    def _keep(self, start: int, end: int) -> None:
        run_start, run_end = self._run
        if start != run_end:
            self._flush()
            run_start = start
        self._run = (run_start, end)

    def _flush(self) -> None:
        start, end = self._run
        if end > start:
            self._out.append(bytes(self._buf[start:end]))
        self._run = (end, end)

    def _payload(self, buf: bytearray, pos: int) -> int:
        if self._pass:
            take = min(self._pass, len(buf) - pos)
            self._keep(pos, pos + take)
            self._pass -= take
            pos += take
        if self._skip and not self._pass:
            take = min(self._skip, len(buf) - pos)
            self._skip -= take
            pos += take
        return pos

    def _emit(self, header: Header, passed: int, length: int) -> None:
        if isinstance(header, _Same):
            self._keep(*self._header)
        elif header:
            self._flush()
            self._out.append(header)
        self._pass, self._skip = passed, length - passed

    def _frame(self, first: int, header: Header, length: int, masked: bool, now: float) -> None:
        opcode, fin = first & 0x0F, bool(first & _FIN)
        if masked or opcode == CLOSE or opcode > PONG:
            self._emit(header, length, length)  # websockets fails or answers these itself
        elif opcode in (PING, PONG):
            passed = length if self.admission.control(now) else 0
            self._emit(header if passed else b"", passed, length)
        elif opcode == CONTINUATION:
            self._continuation(first, header, length, fin, now)
        elif self._open is not None or opcode not in (TEXT, BINARY):
            self._emit(header, length, length)  # a protocol error websockets reports
        elif opcode == TEXT:
            keep = self.admission.text(length, now)
            self._emit(header if keep else b"", length if keep else 0, length)
            self._open = None if fin else ("text" if keep else "drop")
            self._text_size = length
        else:
            self._binary(first, header, length, fin, now)

    def _binary(self, first: int, header: Header, length: int, fin: bool, now: float) -> None:
        allowed = self.admission.binary(length, now)
        if allowed is None:
            self._emit(b"", 0, length)
            self._open = None if fin else "drop"
            return
        self._emit(header if allowed == length else frame_header(first, allowed), allowed,
                   length)
        self._left = self.admission.limits.max_binary_bytes - allowed
        self._open = None if fin else "binary"

    def _continuation(self, first: int, header: Header, length: int, fin: bool,
                      now: float) -> None:
        kind = self._open
        if fin:
            self._open = None
        if kind is None:
            self._emit(header, length, length)  # nothing to continue: websockets fails it
        elif kind == "drop":
            self._emit(b"", 0, length)
        elif kind == "text":
            self._text_size += length
            if self._text_size > self.admission.limits.max_text_bytes:
                self.violation = "text message over the size limit"
                self._emit(b"", 0, length)
            else:
                self._emit(header, length, length)
        else:
            passed = self.admission.more_binary(length, self._left, now)
            self._left -= passed
            if passed or fin:  # the final fragment must reach websockets, even empty
                rewritten = header if passed == length else frame_header(first, passed)
                self._emit(rewritten, passed, length)
            else:
                self._emit(b"", 0, length)
