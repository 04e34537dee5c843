"""RTP packets (RFC 3550 §5.1). No I/O.

`RtpPacket.parse` is the complete reader (CSRC, extension, padding); `read_header` is the hot-path
reader the media socket uses for anything but the plain 12-byte header, returning plain values
(padding and all) without building an object.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """Not an RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None  # (profile, data: whole 32-bit words)
    padding: int = 0  # §5.1 P bit: bytes appended after the payload, the count byte included

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError("shorter than an RTP header")
        b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
        if b0 >> 6 != 2:
            raise RtpError("not RTP version 2")
        offset = 12 + 4 * (b0 & 0x0F)
        if len(data) < offset:
            raise RtpError("truncated CSRC list")
        csrc = struct.unpack_from(f"!{b0 & 0x0F}I", data, 12)
        extension = None
        if b0 & 0x10:
            if len(data) < offset + 4:
                raise RtpError("truncated extension header")
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + 4 + 4 * words
            if len(data) < end:
                raise RtpError("truncated extension")
            extension = (profile, bytes(data[offset + 4:end]))
            offset = end
        end, pad = len(data), 0
        if b0 & 0x20:
            pad = data[-1]
            if pad == 0 or offset + pad > end:
                raise RtpError("bad padding")
            end -= pad
        return cls(b1 & 0x7F, seq, ts, ssrc, bytes(data[offset:end]), bool(b1 & 0x80),
                   tuple(csrc), extension, pad)

    def __bytes__(self) -> bytes:
        self._check()
        b0 = 0x80 | len(self.csrc) | (0x10 if self.extension else 0) | (
            0x20 if self.padding else 0)
        b1 = (0x80 if self.marker else 0) | self.payload_type
        out = [HEADER.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        out += [struct.pack("!I", c) for c in self.csrc]
        if self.extension:
            profile, data = self.extension
            out.append(struct.pack("!HH", profile, len(data) // 4) + data)
        out.append(self.payload)
        if self.padding:
            out.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(out)

    def _check(self) -> None:
        if not 0 <= self.payload_type <= 127 or len(self.csrc) > 15:
            raise ValueError("payload type is 7 bits and at most 15 CSRCs fit")
        if not (0 <= self.sequence <= 0xFFFF and 0 <= self.timestamp <= 0xFFFFFFFF
                and 0 <= self.ssrc <= 0xFFFFFFFF and 0 <= self.padding <= 255):
            raise ValueError("a header field is out of range")
        if self.extension and (len(self.extension[1]) % 4 or len(self.extension[1]) > 0x3FFFC):
            raise ValueError("an extension is whole 32-bit words (RFC 3550 §5.3.1)")


def read_header(data: bytes) -> tuple[int, int, int, int, bool, int, int] | None:
    """(payload_type, sequence, timestamp, ssrc, marker, payload_start, payload_end) or None if
    the datagram is not plain RTP we carry. RTCP (second byte 192-223, RFC 5761 §4) is None too.
    RFC 3550 §5.1: with the P bit set, the last octet counts the padding octets (itself
    included) to leave out of the payload."""
    if len(data) < 12:
        return None
    b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != 2 or 192 <= b1 <= 223:
        return None
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if b0 & 0x20:
        end -= data[-1]
        if data[-1] == 0:
            return None
    if offset > end:
        return None
    return b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), offset, end
