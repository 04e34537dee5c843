"""The supervisor streams of this process: who listens, and what each socket still has to send.

`publish` never waits on a socket. Each connection (`Listener`) has a bounded queue of frames;
its own task (the route's sender) takes them off and writes them. A supervisor whose socket is
slow, or stuck, therefore costs at most `queue_limit` frames of memory and never delays the
verb or the claim that published: a frame that does not fit is dropped and counted, and the
listener's next frame is preceded by a `warning` frame saying how many were lost (the client
re-reads `GET /escalations`). A socket whose single write takes longer than the route's send
timeout is closed by the route.

One hub per process and database (`hub_for`): the API's routes and the Control API's verb both
reach it from the `Database` they already hold. This fans out to the streams connected to THIS
node. With several nodes, `publish` is the seam where a Redis pub/sub channel per tenant goes:
each node publishes there and every node's subscriber calls `deliver` on its own hub
(docs/api.md, "Escalations").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from yotel.db.engine import Database

log = logging.getLogger(__name__)
DEFAULT_QUEUE_LIMIT = 64  # frames per listener; escalations are rare, 64 behind is a stuck socket


class Listener:
    """One supervisor stream: a tenant, optionally a supervisor id, and the frames not yet sent."""

    def __init__(self, tenant_id: str, supervisor_id: str | None, limit: int) -> None:
        self.tenant_id = tenant_id
        self.supervisor_id = supervisor_id
        self.dropped = 0  # frames lost since the last warning frame
        self._limit = limit
        self._frames: deque[str] = deque()
        self._ready = asyncio.Event()

    def wants(self, on_duty: frozenset[str]) -> bool:
        """A stream that said who listens hears pushes only while that supervisor is on duty."""
        return self.supervisor_id is None or self.supervisor_id in on_duty

    def offer(self, frame: str) -> bool:
        if len(self._frames) >= self._limit:
            self.dropped += 1
            return False
        self._frames.append(frame)
        self._ready.set()
        return True

    async def next(self) -> str:
        """The next frame to write; a `warning` first when frames were dropped."""
        while not self._frames:
            self._ready.clear()
            await self._ready.wait()
        if self.dropped:
            lost, self.dropped = self.dropped, 0
            return encode({"type": "warning", "code": "frames_dropped", "dropped": lost,
                           "message": "this socket fell behind; re-read GET /escalations"})
        return self._frames.popleft()

    @property
    def pending(self) -> int:
        return len(self._frames)


class SupervisorHub:
    def __init__(self, *, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self._queue_limit = queue_limit
        self._listeners: dict[str, set[Listener]] = {}

    def subscribe(self, tenant_id: str, supervisor_id: str | None = None) -> Listener:
        listener = Listener(tenant_id, supervisor_id, self._queue_limit)
        self._listeners.setdefault(tenant_id, set()).add(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        tenant = self._listeners.get(listener.tenant_id)
        if tenant is not None:
            tenant.discard(listener)
            if not tenant:
                del self._listeners[listener.tenant_id]

    def listeners(self, tenant_id: str) -> int:
        return len(self._listeners.get(tenant_id, ()))

    def publish(self, tenant_id: str, frame: Mapping[str, Any],
                on_duty: Iterable[str]) -> int:
        """Queue `frame` for the tenant's streams; the number of streams that took it."""
        return self.deliver(tenant_id, encode(frame), frozenset(on_duty))

    def deliver(self, tenant_id: str, frame: str, on_duty: frozenset[str]) -> int:
        taken = 0
        for listener in tuple(self._listeners.get(tenant_id, ())):
            if not listener.wants(on_duty):
                continue
            if listener.offer(frame):
                taken += 1
            elif listener.dropped == 1:  # once per episode, not once per frame
                log.warning("supervisor stream of tenant %s is %d frames behind: dropping "
                            "frames until it reads", tenant_id, listener.pending)
        return taken


_HUBS: WeakKeyDictionary[Database, SupervisorHub] = WeakKeyDictionary()


def hub_for(db: Database) -> SupervisorHub:
    """The hub of the deployment behind `db` in this process (created on first use)."""
    hub = _HUBS.get(db)
    if hub is None:
        hub = _HUBS[db] = SupervisorHub()
    return hub


def encode(frame: Mapping[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"))
