"""A voice agent's `max_concurrent` slots: one lease per live call in the counters store.

Each call holds its own lease on `voice_agent:<id>:calls`, renewed by the call's owner every
`DEFAULT_RENEW_INTERVAL_S` and expiring `DEFAULT_LEASE_TTL_S` after the last renewal. A node that
dies without releasing its calls' leases stops renewing them, so its slots drain within one TTL
even while the agent stays busy with other nodes' calls (a shared counter whose TTL every new call
re-arms would never drain). `active_calls` is the count of live leases.

Store errors (`CountersUnavailableError`) pass through: the API answers 503, the dialer waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Three renewals fit in one TTL, so one late or failed renewal (a Redis blip, a busy loop) does
# not lose a live call's slot.
DEFAULT_LEASE_TTL_S = 60.0
DEFAULT_RENEW_INTERVAL_S = 20.0


def agent_calls_key(agent_id: str) -> str:
    """The lease set of an agent's live calls (docs/architecture.md, "Counters")."""
    return f"voice_agent:{agent_id}:calls"


class LeaseStore(Protocol):
    """The slice of `yotel.counters.Counters` that slots use."""

    async def acquire_lease(self, key: str, holder: str, limit: int, ttl_s: float) -> bool: ...

    async def renew_lease(self, key: str, holder: str, ttl_s: float) -> bool: ...

    async def release_lease(self, key: str, holder: str) -> None: ...

    async def count_leases(self, key: str) -> int: ...


@dataclass(frozen=True, slots=True)
class AgentSlots:
    counters: LeaseStore

    async def acquire(self, agent_id: str, call_id: str, limit: int,
                      ttl_s: float = DEFAULT_LEASE_TTL_S) -> bool:
        """Take a slot for `call_id` if the agent has fewer than `limit` live calls; True also
        when this call already holds one (a retried acquire renews it)."""
        return await self.counters.acquire_lease(agent_calls_key(agent_id), call_id, limit,
                                                 ttl_s)

    async def renew(self, agent_id: str, call_id: str,
                    ttl_s: float = DEFAULT_LEASE_TTL_S) -> bool:
        """Keep the call's slot `ttl_s` longer; False when the lease had already expired (the
        slot may now belong to another call)."""
        return await self.counters.renew_lease(agent_calls_key(agent_id), call_id, ttl_s)

    async def release(self, agent_id: str, call_id: str) -> None:
        """Give the slot back; safe to call on every path, any number of times."""
        await self.counters.release_lease(agent_calls_key(agent_id), call_id)

    async def active(self, agent_id: str) -> int:
        """Live calls on the agent, across every node sharing the store."""
        return await self.counters.count_leases(agent_calls_key(agent_id))
