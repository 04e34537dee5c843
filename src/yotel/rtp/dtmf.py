"""RFC 4733 telephone-events (DTMF) carried in RTP. No I/O."""

from __future__ import annotations

import struct
from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"
EVENT = struct.Struct("!BBH")
STEP_MS = 20


@dataclass(frozen=True)
class DtmfEvent:
    """RFC 4733 §2.3: event code, end bit, volume (-dBm0), duration in timestamp units."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> DtmfEvent:
        if len(payload) < 4:
            raise ValueError("telephone-event payload shorter than 4 bytes")
        event, flags, duration = EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return EVENT.pack(self.event, (0x80 if self.end else 0) | (self.volume & 0x3F),
                          self.duration & 0xFFFF)

    @property
    def digit(self) -> str | None:
        return DIGITS[self.event] if self.event < len(DIGITS) else None


class DtmfReceiver:
    """Turns the packet stream into digits: each key press reported once, at its end.

    An event is identified by its RTP timestamp (§2.5.2.1); the three redundant end packets
    repeat it and are ignored after the first. A press whose end packets were all lost is
    reported when the next press begins.
    """

    def __init__(self) -> None:
        self._current: tuple[int, DtmfEvent] | None = None
        self._reported: int | None = None

    def feed(self, timestamp: int, payload: bytes) -> list[tuple[str, int]]:
        """(digit, duration_ms) pairs completed by this packet."""
        event = DtmfEvent.parse(payload)
        done: list[tuple[str, int]] = []
        if timestamp == self._reported:
            return done
        if self._current is not None and self._current[0] != timestamp:
            done += self._report(*self._current)
        self._current = (timestamp, event)
        if event.end:
            done += self._report(timestamp, event)
        return done

    def _report(self, timestamp: int, event: DtmfEvent) -> list[tuple[str, int]]:
        self._current = None
        self._reported = timestamp
        return [(event.digit, event.duration // 8)] if event.digit else []


def dtmf_train(digit: str, duration_ms: int, *, volume: int = 10) -> list[tuple[bytes, bool]]:
    """The payloads to send for one key press, one per 20 ms, with the marker flag; the last
    three are the redundant end packets (§2.5.1.4). All share one RTP timestamp."""
    code = DIGITS.index(digit.upper())
    steps = max(duration_ms // STEP_MS, 1)
    train = [(bytes(DtmfEvent(code, False, volume, 8 * STEP_MS * (i + 1))), i == 0)
             for i in range(steps - 1)]
    end = bytes(DtmfEvent(code, True, volume, 8 * STEP_MS * steps))
    train += [(end, steps == 1 and i == 0) for i in range(3)]
    return train
