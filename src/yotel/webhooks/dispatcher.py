"""The webhook dispatcher: one loop per node that fans new outbox events out into deliveries,
writes the results of finished attempts, and claims due deliveries to send.

Concurrency is bounded twice, so one slow receiver cannot starve the others: `max_in_flight`
attempts in total and `max_per_endpoint` per endpoint (an endpoint at its bound is left out of
the next claim, and claimed rows beyond it are handed back at once). A call's events never
overlap for one endpoint (the claim's order rule, `store`), while different calls and
endpoints go concurrently. The loop runs when nudged (this node wrote events, an attempt
finished) and at least every `poll_s` (what other nodes wrote, retries coming due).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from yotel.aio.scope import TaskScope
from yotel.db.engine import Database
from yotel.domain.errors import YotelError
from yotel.domain.secretbox import SecretBox
from yotel.webhooks.schedule import DEFAULT_DISABLE_AFTER_S, RetrySchedule
from yotel.webhooks.sender import Sender, SenderConfig
from yotel.webhooks.store import Attempt, Claimed, claim, fan_out, record, release

log = logging.getLogger("yotel.webhooks")
CLAIM_MARGIN_S = 30.0


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    node_id: str
    poll_s: float = 0.1
    batch: int = 500
    max_in_flight: int = 200
    max_per_endpoint: int = 20
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable_after_s: float = DEFAULT_DISABLE_AFTER_S
    sender: SenderConfig = field(default_factory=SenderConfig)

    @property
    def claim_lease_s(self) -> float:
        # Longer than any attempt can take, so a live claim never lapses mid-attempt.
        return self.sender.attempt_budget_s + CLAIM_MARGIN_S


def _now() -> datetime:
    return datetime.now(UTC)


class Dispatcher:
    def __init__(self, db: Database, box: SecretBox, config: DispatcherConfig) -> None:
        self.db = db
        self.box = box
        self.config = config
        self._sender = Sender(config.sender)
        self._scope = TaskScope("webhooks")
        self._wake = asyncio.Event()
        self._in_flight: Counter[str] = Counter()
        self._finished: list[Attempt] = []

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def nudge(self) -> None:
        """Run the loop now (events were written, an attempt finished)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except YotelError as exc:  # database unavailable: keep results, try again later
                log.warning("webhook dispatch pass failed: %s", exc)
            await self._sleep()

    async def step(self) -> None:
        """One pass: fan out, record finished attempts, claim and start due ones."""
        while await fan_out(self.db, limit=self.config.batch, now=_now()) == self.config.batch:
            pass
        await self._record()
        await self._claim_and_send()

    async def close(self, drain_s: float = 5.0) -> None:
        """Let attempts under way finish for `drain_s`, write their results, stop."""
        await self._scope.drain(drain_s)
        with contextlib.suppress(YotelError):
            await self._record()
        await self._sender.close()

    async def _sleep(self) -> None:
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_s):
                    await self._wake.wait()
        self._wake.clear()

    async def _record(self) -> None:
        finished, self._finished = self._finished, []
        try:
            await record(self.db, finished, node_id=self.config.node_id,
                         schedule=self.config.schedule,
                         disable_after_s=self.config.disable_after_s)
        except BaseException:
            self._finished[:0] = finished
            raise

    async def _claim_and_send(self) -> None:
        room = min(self.config.max_in_flight - self.in_flight, self.config.batch)
        if room <= 0:
            return
        full = [eid for eid, n in self._in_flight.items() if n >= self.config.max_per_endpoint]
        claimed = await claim(self.db, self.box, node_id=self.config.node_id, limit=room,
                              now=_now(), lease_s=self.config.claim_lease_s,
                              skip_endpoints=full)
        extra = [c.id for c in claimed if not self._start(c)]
        await release(self.db, extra, node_id=self.config.node_id)
        if len(claimed) == room and not extra:
            self._wake.set()  # more may be due

    def _start(self, claimed: Claimed) -> bool:
        if self._in_flight[claimed.endpoint_id] >= self.config.max_per_endpoint:
            return False
        self._in_flight[claimed.endpoint_id] += 1
        self._scope.spawn(self._attempt(claimed), name=claimed.id)
        return True

    async def _attempt(self, claimed: Claimed) -> None:
        try:
            attempt = await self._sender.send(claimed)
        finally:
            self._in_flight[claimed.endpoint_id] -= 1
            if self._in_flight[claimed.endpoint_id] <= 0:
                del self._in_flight[claimed.endpoint_id]
        if not attempt.ok:
            log.info("webhook %s to endpoint %s failed (attempt %d): %s", claimed.event_id,
                     claimed.endpoint_id, claimed.attempts + 1, attempt.error)
        self._finished.append(attempt)
        self._wake.set()
