"""AgentSlots: one lease per call on `voice_agent:<id>:calls`, in the counters the API uses."""

from __future__ import annotations

import uuid

from yotel.counters import Counters
from yotel.voice_agents.slots import AgentSlots, agent_calls_key


async def test_slots_are_leases_on_the_agent_calls_key(counters: Counters) -> None:
    slots = AgentSlots(counters)
    agent, other = str(uuid.uuid4()), str(uuid.uuid4())  # the store may be a shared Redis
    try:
        assert [await slots.acquire(agent, f"c{i}", 2) for i in range(3)] == [True, True, False]
        assert await slots.acquire(agent, "c0", 2)  # a retried acquire keeps its slot
        assert await slots.acquire(other, "c2", 2)  # another agent's cap is its own
        assert await counters.count_leases(agent_calls_key(agent)) == 2
        assert (await slots.active(agent), await slots.active(other)) == (2, 1)
        assert await slots.renew(agent, "c1")
        assert not await slots.renew(agent, "c2")  # refused calls hold nothing
        await slots.release(agent, "c1")
        await slots.release(agent, "c1")
        assert await slots.active(agent) == 1
        assert await slots.acquire(agent, "c2", 2)
    finally:
        for key in (agent_calls_key(agent), agent_calls_key(other)):
            await counters.delete(key)
