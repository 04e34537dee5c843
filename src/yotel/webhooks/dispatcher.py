"""The webhook dispatcher: one loop per node that fans new outbox events out into deliveries,
writes the results of finished attempts, and claims due deliveries to send.

A claim comes as chains: one call's waiting deliveries to one endpoint, sent one after the
other by one task, which stops at the first failure and hands the rest back (they wait behind
the failed one's retry), so a call's events never overlap or pass each other for one endpoint
(`store`), while different calls and endpoints go concurrently. Concurrency is bounded twice,
so one slow receiver cannot starve the others: `max_in_flight` chains (so requests) in total
and `max_per_endpoint` per endpoint (an endpoint at its bound is left out of the next claim,
and claimed chains beyond it are handed back at once). The loop runs when nudged (this node
wrote events, an attempt finished: no has-work read first) and at least every `poll_s` (what
other nodes wrote, retries coming due).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from yotel.aio.scope import TaskScope
from yotel.db.engine import Database
from yotel.domain.errors import YotelError
from yotel.domain.secretbox import SecretBox
from yotel.webhooks.schedule import DEFAULT_DISABLE_AFTER_S, RetrySchedule
from yotel.webhooks.sender import Sender, SenderConfig
from yotel.webhooks.store import Attempt, Claimed, PassPlan, dispatch_pass, has_work, release

log = logging.getLogger("yotel.webhooks")
CLAIM_FACTOR = 1.5


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    node_id: str
    poll_s: float = 0.1
    # The least time between two passes' starts: a burst of nudges becomes one pass, and the
    # call layer's writers get SQLite's single writer lock between passes.
    min_gap_s: float = 0.02
    batch: int = 500
    max_in_flight: int = 200
    max_per_endpoint: int = 20
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    disable_after_s: float = DEFAULT_DISABLE_AFTER_S
    sender: SenderConfig = field(default_factory=SenderConfig)

    @property
    def claim_lease_s(self) -> float:
        # Longer than any attempt can take, so a live claim never lapses mid-attempt; a dead
        # node's claims lapse after it.
        return self.sender.attempt_budget_s * CLAIM_FACTOR


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
        self._stopping = False
        self._in_flight: Counter[str] = Counter()
        self._finished: list[Attempt] = []
        self._unsent: list[str] = []  # claimed ids a chain did not try (after its failure)
        self._nudged = False
        self._last_pass = 0.0

    @property
    def in_flight(self) -> int:
        return sum(self._in_flight.values())

    def nudge(self) -> None:
        """Run the loop now (events were written): the pass skips its has-work read."""
        self._nudged = True
        self._wake.set()

    async def stop_loop(self) -> None:
        """Ask `run` to return between passes: a pass is never cancelled in its transaction
        (a cancelled SQLite write can leave the connection holding the writer lock)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.step()
            except YotelError as exc:  # database unavailable: keep results, try again later
                log.warning("webhook dispatch pass failed: %s", exc)
            except Exception:  # a bug must not stop every delivery of this node
                log.exception("webhook dispatch pass failed")
            await self._sleep()

    async def step(self) -> None:
        """One pass: record finished attempts, fan out new events, claim and start due
        deliveries (one write transaction; none at all when there is nothing to do)."""
        now = _now()
        plan = self._plan()
        finished, self._finished = self._finished, []
        unsent, self._unsent = self._unsent, []
        nudged, self._nudged = self._nudged, False
        try:
            if not (finished or unsent or nudged) and not await has_work(
                    self.db, now, plan.skip_endpoints):
                return
            fanned, claimed = await dispatch_pass(self.db, self.box, finished, plan, now,
                                                  unsent)
        except BaseException:
            self._finished[:0] = finished  # written by a later pass (the claim still holds)
            self._unsent[:0] = unsent
            self._nudged = self._nudged or nudged
            raise
        chains = list(_chains(claimed))
        extra = [c.id for chain in chains if not self._start(chain) for c in chain]
        await release(self.db, extra, node_id=self.config.node_id)
        if fanned == plan.fan_out_limit or (chains and len(chains) == plan.claim_limit):
            self.nudge()  # more may be waiting

    async def close(self, drain_s: float = 5.0) -> None:
        """Let attempts under way finish for `drain_s`, write their results, stop."""
        await self._scope.drain(drain_s)
        finished, self._finished = self._finished, []
        unsent, self._unsent = self._unsent, []
        if finished or unsent:
            record_only = dataclasses.replace(self._plan(), fan_out_limit=0, claim_limit=0)
            with contextlib.suppress(YotelError):  # unrecorded: the claims lapse, resent
                await dispatch_pass(self.db, self.box, finished, record_only, _now(), unsent)
        await self._sender.close()

    def _plan(self) -> PassPlan:
        config = self.config
        full = tuple(eid for eid, n in self._in_flight.items() if n >= config.max_per_endpoint)
        room = min(config.max_in_flight - self.in_flight, config.batch)
        return PassPlan(node_id=config.node_id, fan_out_limit=config.batch,
                        claim_limit=max(room, 0), lease_s=config.claim_lease_s,
                        schedule=config.schedule, disable_after_s=config.disable_after_s,
                        skip_endpoints=full)

    async def _sleep(self) -> None:
        if not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.poll_s):
                    await self._wake.wait()
        gap = self._last_pass + self.config.min_gap_s - time.monotonic()
        if gap > 0:
            await asyncio.sleep(gap)
        self._wake.clear()
        self._last_pass = time.monotonic()

    def _start(self, chain: Sequence[Claimed]) -> bool:
        endpoint_id = chain[0].endpoint_id
        if self._in_flight[endpoint_id] >= self.config.max_per_endpoint:
            return False
        self._in_flight[endpoint_id] += 1
        self._scope.spawn(self._send_chain(chain), name=chain[0].id)
        return True

    async def _send_chain(self, chain: Sequence[Claimed]) -> None:
        """Send a call's deliveries to one endpoint in order, each after the previous one was
        accepted; after a failure, or once the claim could lapse before another whole attempt
        (a slow receiver), the rest are handed back untried."""
        untried = list(reversed(chain))
        try:
            while untried:
                if len(untried) < len(chain) and not self._claim_outlasts_attempt(untried[-1]):
                    break
                claimed = untried.pop()
                attempt = await self._sender.send(claimed)
                self._finished.append(attempt)
                self._wake.set()
                if not attempt.ok:
                    log.info("webhook %s to endpoint %s failed (attempt %d): %s",
                             claimed.event_id, claimed.endpoint_id, claimed.attempts + 1,
                             attempt.error)
                    break
        finally:
            self._unsent.extend(c.id for c in untried)
            endpoint_id = chain[0].endpoint_id
            self._in_flight[endpoint_id] -= 1
            if self._in_flight[endpoint_id] <= 0:
                del self._in_flight[endpoint_id]


    def _claim_outlasts_attempt(self, claimed: Claimed) -> bool:
        """Whether `claimed` stays this node's claim for a whole attempt started now: after
        it lapses another node may send it too."""
        budget = timedelta(seconds=self.config.sender.attempt_budget_s)
        return claimed.claimed_until is None or _now() + budget < claimed.claimed_until


def _chains(claimed: Sequence[Claimed]) -> Iterator[list[Claimed]]:
    """`claimed` (sorted by chain, then sequence) cut into its chains."""
    chain: list[Claimed] = []
    for delivery in claimed:
        if chain and delivery.chain_key != chain[0].chain_key:
            yield chain
            chain = []
        chain.append(delivery)
    if chain:
        yield chain
