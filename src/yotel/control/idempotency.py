"""Idempotency records for the Control API (page 003, "Idempotency"; PRODUCT.md §5), kept in
the counters store (Redis in production, so every node sees them).

A request with a key claims `(call_id, key)` atomically (`set_if_absent`) with the body's
fingerprint. A second request with the same key then either replays the stored response (same
body, first one done), is refused 400 `idempotency_key_reused` (another body), or waits for the
first to finish and replays it (still running), 409 if it does not finish in time. Only
successes are stored: a failed first attempt leaves the key free for a retry.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from yotel.counters import Counters
from yotel.domain.errors import Conflict, ValidationError

IN_FLIGHT_WAIT_S = 5.0
POLL_S = 0.05


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict[str, Any]


def fingerprint(verb_body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(verb_body, sort_keys=True, default=str).encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, counters: Counters) -> None:
        self._store = counters.with_namespace("control-idem")

    @staticmethod
    def _key(call_id: str, key: str) -> str:
        # The client's key is any string: hashed, it cannot bloat or confuse the store's keys.
        return f"{call_id}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"

    async def claim(self, call_id: str, key: str, print_: str, ttl_s: float) -> Stored | None:
        """None: this request runs the action (then `finish` or `release`). Else the response
        to replay."""
        record = self._key(call_id, key)
        running = json.dumps({"state": "running", "fp": print_})
        if await self._store.set_if_absent(record, running, ttl_s):
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IN_FLIGHT_WAIT_S
        while True:
            raw = await self._store.get_value(record)
            if raw is None:  # the first attempt failed and let go: take it over
                if await self._store.set_if_absent(record, running, ttl_s):
                    return None
                continue
            stored = json.loads(raw)
            if stored["fp"] != print_:
                raise ValidationError(
                    "idempotency_key_reused: this Idempotency-Key was used with another body",
                    details=[{"loc": ["header", "Idempotency-Key"],
                              "msg": "reused with a different body",
                              "type": "idempotency_key_reused"}])
            if stored["state"] == "done":
                return Stored(int(stored["status"]), dict(stored["body"]))
            if loop.time() >= deadline:
                raise Conflict("a request with this Idempotency-Key is still in progress")
            await asyncio.sleep(POLL_S)

    async def finish(self, call_id: str, key: str, print_: str, stored: Stored,
                     ttl_s: float) -> None:
        await self._store.set_value(self._key(call_id, key), json.dumps({
            "state": "done", "fp": print_, "status": stored.status, "body": stored.body}), ttl_s)

    async def release(self, call_id: str, key: str) -> None:
        await self._store.delete(self._key(call_id, key))
