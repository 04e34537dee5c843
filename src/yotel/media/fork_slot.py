"""The AI fork of one call over its lifetime: attach at any time, detach with a reason, replace.

Only the fork in the slot can end the call: a fork that was detached or replaced is watched no
more, so its close (or its AI's) never hangs up a call that has moved on. A fork attached after
answer starts its caller timeline at attach (PRODUCT.md §6.3: frame k covers 20k ms after the
fork's start), so it gets no backlog of silence for the time before it existed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from yotel.aio.scope import TaskScope
from yotel.fork.client import AudioFork, ForkConfig, ForkConnectError, MintToken
from yotel.media.errors import CallEnded, ForkUnavailable, NotFound, SubprotocolNotOffered
from yotel.media.path import MediaPath
from yotel.media.stats import MediaStats

log = logging.getLogger(__name__)
Lost = Callable[[str], Awaitable[None]]  # the slot's fork ended the session: its outcome


class ForkSlot:
    def __init__(self, path: MediaPath, scope: TaskScope, stats: MediaStats, *,
                 subprotocols: tuple[str, ...], allow_insecure: bool, on_lost: Lost) -> None:
        self.fork: AudioFork | None = None
        self._path = path
        self._scope = scope
        self._stats = stats
        self._subprotocols = subprotocols
        self._allow_insecure = allow_insecure
        self._on_lost = on_lost
        self._retired: set[AudioFork] = set()
        self.closed = False

    def check(self, config: ForkConfig) -> ForkConfig:
        """SubprotocolNotOffered for a subprotocol this node does not offer; the node's
        insecure-URL policy caps the fork's (PRODUCT.md §2)."""
        if config.subprotocol not in self._subprotocols:
            raise SubprotocolNotOffered(config.subprotocol)
        if config.allow_insecure and not self._allow_insecure:
            return replace(config, allow_insecure=False)
        return config

    async def open(self, config: ForkConfig, metadata: dict[str, Any], *,
                   mint_token: MintToken | None = None) -> AudioFork:
        """Connect a fork (ForkUnavailable if the AI cannot be had); not yet in the slot."""
        config = self.check(config)
        stats = self._stats
        histograms = {"rtp_to_ws": stats.rtp_to_ws, "ws_to_rtp": stats.ws_to_rtp}
        fork = AudioFork(config, metadata, mint_token=mint_token,
                         on_latency=lambda hop, seconds: histograms[hop].record(seconds))
        try:
            await fork.connect()
        except (ForkConnectError, ValueError, OSError) as exc:  # ValueError: SSRF refusal
            raise ForkUnavailable(str(exc)) from exc
        if self.closed:
            await fork.close("hangup")
            raise CallEnded("the call ended while the fork was connecting")
        return fork

    def put(self, fork: AudioFork, started_at: float | None) -> AudioFork | None:
        """Make `fork` the call's AI (caller audio from `started_at`, if answered); returns the
        fork it replaces, now retired (the caller closes it)."""
        old, self.fork = self.fork, fork
        self._path.attach_fork(fork)
        if started_at is not None:
            fork.start_audio(started_at)
        self._scope.spawn(self._watch(fork), name="fork-watch")
        if old is not None:
            self._retired.add(old)
        return old

    def start_audio(self, now: float) -> None:
        if self.fork is not None:
            self.fork.start_audio(now)

    async def detach(self, reason: str, code: int = 1000) -> AudioFork:
        """Close the slot's fork with `stop` `reason`; the call goes on without an AI."""
        fork = self.fork
        if fork is None:
            raise NotFound("no audio fork is attached")
        self.fork = None
        self._path.attach_fork(None)
        await self.retire(fork, reason, code)
        return fork

    async def retire(self, fork: AudioFork, reason: str, code: int = 1000) -> None:
        self._retired.add(fork)
        try:
            await fork.close(reason, code)
        finally:
            self._retired.discard(fork)

    def release(self) -> None:
        """The call ended (the fork is closed): no more callbacks to it."""
        self._on_lost = _lost_after_the_end

    async def close(self, reason: str, code: int) -> None:
        """The call ended: close the slot's fork and any still closing."""
        self.closed = True
        forks = [f for f in (self.fork, *self._retired) if f is not None]
        self._path.attach_fork(None)  # `fork` stays readable (its stats) after the call
        await asyncio.gather(*(f.close(reason, code) for f in forks), return_exceptions=True)

    async def _watch(self, fork: AudioFork) -> None:
        outcome = await fork.outcome
        if fork is not self.fork or self.closed or outcome == "closed":
            return  # retired, or closed by us: it may not end the call
        await self._on_lost(outcome)


async def _lost_after_the_end(_outcome: str) -> None:
    """A released slot's fork can no longer end its call."""
