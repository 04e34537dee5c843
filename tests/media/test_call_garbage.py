"""An ended call is freed by reference counting alone: no reference cycle keeps its object
graph (leg, dialog, RTP session, audio path, fork) for the cycle collector, whose full
collections stop the loop that carries every other call (docs/media.md, "Garbage")."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from yotel.fork.client import ForkConfig
from yotel.media.engine import MediaEngine
from yotel.testing.fake_ai import FakeVoiceAI
from yotel.testing.phone import Phone, tone


@contextmanager
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _holders(target: object, depth: int = 4) -> str:
    """Who keeps `target` alive (for the failure message)."""
    lines, frontier, seen = [], [target], {id(target)}
    for level in range(depth):
        nxt = []
        for obj in frontier:
            for ref in gc.get_referrers(obj):
                if id(ref) in seen or ref is frontier:
                    continue
                seen.add(id(ref))
                nxt.append(ref)
                desc = type(ref).__qualname__
                if hasattr(ref, "__func__"):
                    desc += f" {ref.__func__.__qualname__}"
                elif type(ref).__name__ == "cell":
                    desc += " of " + ", ".join(
                        f.__qualname__ for t in gc.get_referrers(ref) if isinstance(t, tuple)
                        for f in gc.get_referrers(t) if hasattr(f, "__qualname__")
                        and getattr(f, "__closure__", None) is t)
                elif isinstance(ref, dict):
                    desc += f" keys={[k for k, v in ref.items() if v is obj][:3]}"
                lines.append("  " * level + desc)
        frontier = nxt[:12]
    return "\n".join(lines[:80])


async def test_an_ended_call_with_a_fork_is_freed_without_the_collector(
        engine: MediaEngine, phone: Phone) -> None:
    async with FakeVoiceAI(mode="echo") as ai:
        with collector_off():
            call = await engine.originate(
                phone.uri, fork=(ForkConfig(url=ai.url, allow_insecure=True), {"call_id": "g"}))
            await asyncio.wait_for(call.answered.wait(), 5)
            phone.send_audio(tone(440, 1.0))
            call.start_recording()
            session = await ai.next_session()
            await session.wait_for_binary(10)
            await call.hangup()
            await call.wait_ended(5)
            await asyncio.sleep(0.2)  # what the end scheduled has run
            fork = call.forks.fork
            assert fork is not None and fork._ws is None
            pieces = {name: weakref.ref(obj) for name, obj in (
                ("call", call), ("leg", call.leg), ("session", call.leg.session),
                ("path", call.media), ("dialog", call.leg.dialog), ("fork", fork))}
            del call, fork
            alive = [name for name, ref in pieces.items() if ref() is not None]
            first = next((ref() for ref in pieces.values() if ref() is not None), None)
            assert not alive, f"{alive} alive; held by:\n{_holders(first)}"
