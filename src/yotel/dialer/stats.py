"""What the dialer has done since it started (the benchmark and the logs read it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

SAMPLES = 100_000  # the latest claim-to-INVITE times kept


@dataclass
class DialerStats:
    claimed: int = 0
    placed: int = 0  # originates that returned (the INVITE is on the wire)
    failed_to_start: int = 0
    dnd_blocked: int = 0
    outside_window: int = 0
    agent_busy: int = 0
    settled: int = 0
    claim_to_invite_s: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def dialled(self, claim_to_invite_s: float) -> None:
        self.placed += 1
        self.claim_to_invite_s.append(claim_to_invite_s)

    def p99_claim_to_invite_s(self) -> float | None:
        samples = sorted(self.claim_to_invite_s)
        if not samples:
            return None
        return samples[min(len(samples) - 1, int(0.99 * len(samples)))]
