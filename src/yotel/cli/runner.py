"""`yotel serve` as a list of components started in order and stopped in reverse.

A component is anything with `name`, `start()`, `wait()` (returns if it stops on its own) and
`stop()`. Today: the REST API. The SIP/RTP media engine, dialer, webhook dispatcher... join the
list as they land, without changing the runner.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger("yotel.serve")


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def wait(self) -> None: ...

    async def stop(self) -> None: ...


class Runner:
    def __init__(self, components: Sequence[Component]) -> None:
        self._components = list(components)
        self.stopping = asyncio.Event()

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Start everything (then call `on_started`), run until `stopping` is set (SIGINT/SIGTERM)
        or a component stops by itself, then stop what was started, newest first."""
        started: list[Component] = []
        try:
            for component in self._components:
                await component.start()
                started.append(component)
                log.info("started %s", component.name)
            if on_started is not None:
                on_started()
            await self._until_stop(started)
        finally:
            for component in reversed(started):
                await self._stop(component)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)

    async def _until_stop(self, started: list[Component]) -> None:
        waiters = [asyncio.create_task(c.wait(), name=f"wait:{c.name}") for c in started]
        stop = asyncio.create_task(self.stopping.wait(), name="wait:stop")
        try:
            done, _ = await asyncio.wait([stop, *waiters], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop:
                    log.error("a component stopped unexpectedly; shutting down")
        finally:
            for task in (stop, *waiters):
                task.cancel()
            await asyncio.gather(stop, *waiters, return_exceptions=True)

    @staticmethod
    async def _stop(component: Component) -> None:
        try:
            await component.stop()
            log.info("stopped %s", component.name)
        except Exception:  # one failing stop must not keep the others running
            log.exception("error stopping %s", component.name)
