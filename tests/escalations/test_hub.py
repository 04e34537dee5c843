"""The supervisor hub without sockets: who hears a push, and what a listener that does not read
costs (a bounded queue, drops counted and reported once, in a warning frame)."""

from __future__ import annotations

import asyncio
import json

from yotel.escalations.hub import SupervisorHub


async def test_a_push_reaches_the_tenants_listeners_only_while_their_supervisor_is_on_duty(
        ) -> None:
    hub = SupervisorHub()
    anyone, on_duty, off_duty = (hub.subscribe("t1"), hub.subscribe("t1", "sup-a"),
                                 hub.subscribe("t1", "sup-b"))
    other_tenant = hub.subscribe("t2")
    assert hub.publish("t1", {"type": "escalation.created", "escalation": {"id": "e1"}},
                       on_duty={"sup-a"}) == 2
    for listener in (anyone, on_duty):
        frame = json.loads(await asyncio.wait_for(listener.next(), 1))
        assert frame == {"type": "escalation.created", "escalation": {"id": "e1"}}
    assert off_duty.pending == other_tenant.pending == 0
    for listener in (anyone, on_duty, off_duty, other_tenant):
        hub.unsubscribe(listener)
    assert hub.listeners("t1") == hub.listeners("t2") == 0


async def test_a_listener_that_does_not_read_holds_at_most_its_limit_and_hears_of_the_loss(
        ) -> None:
    hub = SupervisorHub(queue_limit=3)
    slow, fast = hub.subscribe("t1"), hub.subscribe("t1")
    taken = []
    for n in range(10):
        taken.append(hub.publish("t1", {"type": "escalation.created", "n": n}, ()))
        assert json.loads(await fast.next())["n"] == n  # this one reads as frames come
    assert taken == [2, 2, 2] + [1] * 7  # the slow one took 3, the limit
    assert slow.pending == 3 and slow.dropped == 7
    warning = json.loads(await slow.next())
    assert warning == {"type": "warning", "code": "frames_dropped", "dropped": 7,
                       "message": "this socket fell behind; re-read GET /escalations"}
    kept = [json.loads(await slow.next())["n"] for _ in range(3)]
    assert kept == [0, 1, 2] and slow.dropped == 0
    waiting = asyncio.create_task(slow.next())
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing queued: the reader waits, nothing else does
    hub.publish("t1", {"type": "escalation.claimed", "n": 10}, ())
    assert json.loads(await asyncio.wait_for(waiting, 1))["n"] == 10
