"""RFC 4733 telephone-events (DTMF) carried in RTP. No I/O; time is passed in.

§2.3 payload: event (8 bits) | E | R | volume (6 bits) | duration (16 bits, timestamp units).
§2.5.1: a sender keeps one RTP timestamp for the whole press, sends updates with a growing
duration (marker on the first), then repeats the final packet, E bit set, three times.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"  # §3.2: events 0-15
EVENT = struct.Struct("!BBH")
STEP_MS = 20
END_REPEATS = 3  # §2.5.1.4: the end packet is sent three times
UNITS_PER_MS = 8  # 8 kHz RTP clock
END_TIMEOUT_S = 0.3  # no update for this long: the press is over even without an end packet


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


def event_code(digit: str) -> int:
    """The §3.2 event code of a DTMF key ('0'-'9', '*', '#', 'A'-'D'); ValueError otherwise."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


class DtmfReceiver:
    """Turns the packet stream into key presses, each reported exactly once with its duration.

    A press is identified by its RTP timestamp (§2.5.2.1). The first end packet reports it and
    the redundant ones are ignored. A press whose start was lost is still reported from any
    update or end packet. A press whose end packets were all lost is reported when the next
    press begins, or by `poll` once no update came for `END_TIMEOUT_S`.
    """

    def __init__(self, end_timeout_s: float = END_TIMEOUT_S) -> None:
        self._timeout = end_timeout_s
        self._current: tuple[int, DtmfEvent] | None = None
        self._last_update = 0.0
        self._reported: int | None = None

    @property
    def pending(self) -> bool:
        """A press is under way (so `poll` has something to time out)."""
        return self._current is not None

    def feed(self, timestamp: int, payload: bytes, now: float = 0.0) -> list[tuple[str, int]]:
        """(digit, duration_ms) pairs completed by this packet; ValueError if it is malformed."""
        event = DtmfEvent.parse(payload)
        if self._is_old(timestamp):
            return []  # a repeat of a reported press, or a straggler from before it
        done: list[tuple[str, int]] = []
        current = self._current
        if current is not None and current[0] != timestamp:
            done += self._report(*current)
        elif current is not None and current[1].duration > event.duration:
            event = DtmfEvent(event.event, event.end, event.volume, current[1].duration)
        if event.end:
            done += self._report(timestamp, event)
        else:
            self._current, self._last_update = (timestamp, event), now
        return done

    def poll(self, now: float) -> list[tuple[str, int]]:
        """Report a press whose end never arrived, once it has been quiet long enough."""
        if self._current is not None and now - self._last_update >= self._timeout:
            return self._report(*self._current)
        return []

    def _is_old(self, timestamp: int) -> bool:
        reported = self._reported
        return (reported is not None and (timestamp - reported) & 0xFFFFFFFF >= 0x80000000) \
            or timestamp == reported

    def _report(self, timestamp: int, event: DtmfEvent) -> list[tuple[str, int]]:
        self._current = None
        self._reported = timestamp
        digit = event.digit
        return [(digit, event.duration // UNITS_PER_MS)] if digit is not None else []


def dtmf_train(digit: str, duration_ms: int, *, volume: int = 10) -> list[tuple[bytes, bool]]:
    """The payloads to send for one key press, one per 20 ms, each with its marker flag.

    All share one RTP timestamp (the press's start, §2.5.1.2). The last three are the redundant
    end packets carrying the final duration (§2.5.1.4). Raises ValueError for a bad digit.
    """
    code = event_code(digit)
    steps = max(duration_ms // STEP_MS, 1)
    unit = UNITS_PER_MS * STEP_MS
    train = [(bytes(DtmfEvent(code, False, volume, unit * (i + 1))), i == 0)
             for i in range(steps - 1)]
    end = bytes(DtmfEvent(code, True, volume, unit * steps))
    train += [(end, steps == 1 and i == 0) for i in range(END_REPEATS)]
    return train
