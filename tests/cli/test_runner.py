from __future__ import annotations

import asyncio

import pytest

from yotel.cli.runner import Runner


class FakeComponent:
    def __init__(self, name: str, log: list[str], *, fail_start: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_start = fail_start
        self.finished = asyncio.Event()

    async def start(self) -> None:
        if self.fail_start:
            raise OSError(f"{self.name} cannot bind")
        self.log.append(f"start {self.name}")

    async def wait(self) -> None:
        await self.finished.wait()

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        self.finished.set()


async def test_starts_in_order_and_stops_in_reverse_on_request() -> None:
    log: list[str] = []
    runner = Runner([FakeComponent("db", log), FakeComponent("api", log)])
    started = asyncio.Event()
    task = asyncio.create_task(runner.run(started.set))
    await asyncio.wait_for(started.wait(), timeout=5)
    runner.stopping.set()
    await asyncio.wait_for(task, timeout=5)
    assert log == ["start db", "start api", "stop api", "stop db"]


async def test_a_component_that_stops_by_itself_stops_the_rest() -> None:
    log: list[str] = []
    media = FakeComponent("media", log)
    runner = Runner([FakeComponent("api", log), media])
    task = asyncio.create_task(runner.run(media.finished.set))
    await asyncio.wait_for(task, timeout=5)
    assert log == ["start api", "start media", "stop media", "stop api"]


async def test_failed_start_stops_what_was_started() -> None:
    log: list[str] = []
    runner = Runner([FakeComponent("api", log), FakeComponent("media", log, fail_start=True)])
    with pytest.raises(OSError, match="cannot bind"):
        await asyncio.wait_for(runner.run(), timeout=5)
    assert log == ["start api", "stop api"]
