"""What one voice AI may cost the node (fairness between calls, issue P2.2 §3). No I/O; time
is passed in.

Every message the AI sends is admitted or dropped here before websockets parses it:

- messages of any kind (binary, text, ping, pong): `messages_per_s`, burst `message_burst`;
- text frames besides: `texts_per_s`, burst `text_burst` (each costs a JSON parse and may
  cost an answer);
- binary bytes: `bytes_per_s`, burst `byte_burst`. PRODUCT.md §6.4 lets an AI send audio of any
  length faster than real time, and the most that can usefully be queued is the 60 s playout
  cap; so the bursts let a well-behaved AI send the whole cap at once (3 000 messages of 20 ms,
  or one message of 60 s) and the byte burst is twice the cap, so an AI that overfills the
  queue hears `playout_overflow` (§6.4) before any rate limit; the rates allow 4x real time
  (50 frames/s, 8 000 B/s) sustained. A binary message larger than the bytes left is cut.

What is dropped is counted for a `warning` (code `rate_limited`). An AI that keeps going over a
limit for `abuse_close_s` seconds in a row (no second-long pause in its drops) is `abusive`:
the fork closes it with 4000. Separately, `scan_per_s` bounds how many frames are even looked
at per second, so an AI flooding tiny frames, pings or text costs a bounded slice of the loop:
past it, the socket stops being read (TCP back-pressure does the rest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from yotel.fork.frames import ErrorFrame, WarningFrame, YotelFrame

PLAYOUT_CAP_BYTES = 60 * 8000  # PRODUCT.md §6.4: 60 s of 8 kHz G.711


@dataclass(frozen=True, slots=True)
class ForkLimits:
    """Per-session inbound limits; see the module docstring for why these defaults."""

    messages_per_s: float = 200.0
    message_burst: float = 3000.0  # the 60 s cap in 20 ms frames
    texts_per_s: float = 50.0
    text_burst: float = 200.0  # the 100 outstanding marks of §6.5 at once, and as many more
    bytes_per_s: float = 32000.0  # 4x real-time G.711
    byte_burst: float = 2.0 * PLAYOUT_CAP_BYTES
    max_binary_bytes: int = PLAYOUT_CAP_BYTES  # one longer message is cut to this
    max_text_bytes: int = 1 << 20  # frames.MAX_TEXT_BYTES: longer ones are dropped
    scan_per_s: float = 2000.0  # frames looked at per second, before reading stops
    scan_burst: float = 4000.0
    abuse_close_s: float = 5.0
    slice_frames: int = 64  # frames handled per loop iteration (~1-2 ms) before yielding


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved; may run into debt (`charge`)."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        """Take `amount` if it is there; False (nothing taken) if not."""
        self.refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def take_up_to(self, now: float, amount: int) -> int:
        """Take as much of `amount` as there is (whole units); how much was taken."""
        self.refill(now)
        taken = min(amount, max(int(self.tokens), 0))
        self.tokens -= taken
        return taken

    def charge(self, now: float, amount: float) -> None:
        """Take `amount` even into debt (the rest of a message already admitted)."""
        self.refill(now)
        self.tokens -= amount

    def wait_s(self, now: float, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are there."""
        self.refill(now)
        return max(amount - self.tokens, 0.0) / self.rate if self.rate > 0 else float("inf")


@dataclass
class Dropped:
    """What was dropped since the last report."""

    messages: int = 0
    texts: int = 0
    pings: int = 0
    audio_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.messages or self.texts or self.pings or self.audio_bytes)


@dataclass
class Admission:
    """One session's buckets, what they dropped, and whether the AI has become abusive."""

    limits: ForkLimits
    now: float
    messages: TokenBucket = field(init=False)
    texts: TokenBucket = field(init=False)
    audio: TokenBucket = field(init=False)
    scan: TokenBucket = field(init=False)
    dropped: Dropped = field(default_factory=Dropped)  # since the last report
    total_dropped: int = 0  # messages, all time
    too_large_texts: int = 0  # since the last report: answered with an `error` frame
    truncated_bytes: int = 0  # since the last report: audio over `max_binary_bytes`
    _over_since: float | None = None
    _over_last: float = float("-inf")

    def __post_init__(self) -> None:
        lim, now = self.limits, self.now
        self.messages = TokenBucket(lim.messages_per_s, lim.message_burst, now)
        self.texts = TokenBucket(lim.texts_per_s, lim.text_burst, now)
        self.audio = TokenBucket(lim.bytes_per_s, lim.byte_burst, now)
        self.scan = TokenBucket(lim.scan_per_s, lim.scan_burst, now)

    def binary(self, length: int, now: float) -> int | None:
        """A binary message starts, `length` bytes in its first frame: how many of them to
        pass (None: drop the whole message; fewer than `length`: cut it)."""
        if not self._message(now):
            self.dropped.audio_bytes += length
            return None
        wanted = min(length, self.limits.max_binary_bytes)
        self.truncated_bytes += length - wanted
        allowed = self.audio.take_up_to(now, wanted)
        if allowed < wanted:
            self.dropped.audio_bytes += wanted - allowed
            self._over(now)
            if allowed == 0:
                self.dropped.messages += 1
                self.total_dropped += 1
                return None
        return allowed

    def more_binary(self, length: int, left: int, now: float) -> int:
        """A continuation frame of an admitted binary message, `left` bytes still under the
        message cap: how many of its `length` bytes to pass. Each fragment costs a message
        (a flood of tiny fragments is a flood of messages); its bytes are charged even into
        debt, since the message was admitted."""
        if not self._message(now):
            self.dropped.audio_bytes += length
            return 0
        passed = min(length, left)
        self.truncated_bytes += length - passed
        self.audio.charge(now, passed)
        return passed

    def text(self, length: int, now: float) -> bool:
        """A text message starts (first frame `length` bytes): pass it?"""
        if length > self.limits.max_text_bytes:
            self.too_large_texts += 1
            return False
        if not self._message(now):
            self.dropped.texts += 1
            return False
        if not self.texts.take(now):
            self.dropped.texts += 1
            self.dropped.messages += 1
            self.total_dropped += 1
            self._over(now)
            return False
        return True

    def control(self, now: float) -> bool:
        """A ping or pong: pass it? (RFC 6455 §5.5.3 lets a flood of pings go unanswered but
        for the latest.)"""
        if self._message(now):
            return True
        self.dropped.pings += 1
        return False

    def _message(self, now: float) -> bool:
        if self.messages.take(now):
            return True
        self.dropped.messages += 1
        self.total_dropped += 1
        self._over(now)
        return False

    def _over(self, now: float) -> None:
        if now - self._over_last > 1.0:  # a second without drops: a new episode
            self._over_since = now
        self._over_last = now

    @property
    def has_news(self) -> bool:
        """Something to report: drops, cut audio or too-large text frames."""
        return bool(self.dropped or self.truncated_bytes or self.too_large_texts)

    def abusive(self, now: float) -> bool:
        """Over a limit for `abuse_close_s` seconds in a row, and still at it."""
        since = self._over_since
        return (since is not None and now - self._over_last <= 1.0
                and self._over_last - since >= self.limits.abuse_close_s)

    def report(self) -> list[YotelFrame]:
        """The frames that tell the AI what was dropped since the last report (and reset)."""
        out: list[YotelFrame] = []
        if self.too_large_texts:
            count, self.too_large_texts = self.too_large_texts, 0
            out.append(ErrorFrame("frame_too_large", f"{count} text frame(s) over "
                                  f"{self.limits.max_text_bytes} bytes dropped"))
        dropped, self.dropped = self.dropped, Dropped()
        if dropped:
            out.append(WarningFrame("rate_limited", dropped.audio_bytes // 8, {
                "dropped_messages": dropped.messages, "dropped_text": dropped.texts,
                "dropped_pings": dropped.pings}))
        return out
