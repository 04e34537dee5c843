"""The one task-group helper: every task and resource an owner (a call, the engine, a fork, the
user agent) opens is registered here, and `close()` cancels and awaits the tasks, then releases
the resources (newest first), exactly once. No task is left orphaned.

`asyncio.TaskGroup` does not fit: it cannot be closed from outside, and one failing child
cancels the rest without telling anyone. Here a failing task is logged and reported through
`on_failure` (the call ends with outcome `failed`), and the scope is closed by its owner.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
Closer = Callable[[], object]  # sync, or returning an awaitable


class ScopeClosed(RuntimeError):  # noqa: N818 - reads as the condition
    """The scope has been closed; nothing new may start in it."""


class TaskScope:
    def __init__(self, name: str, *, on_failure: Callable[[BaseException], None] | None = None
                 ) -> None:
        self.name = name
        self.on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closers: list[Closer] = []
        self._closing = False
        self.closed = asyncio.Event()

    @property
    def tasks(self) -> int:
        return len(self._tasks)

    @property
    def resources(self) -> int:
        return len(self._closers)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None
              ) -> asyncio.Task[Any]:
        if self._closing:
            coro.close()
            raise ScopeClosed(self.name)
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name or ''}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("task %s failed", task.get_name(), exc_info=error)
            if self.on_failure is not None and not self._closing:
                self.on_failure(error)

    def add(self, closer: Closer) -> None:
        """Register a resource's release (a socket's close, a recorder's finish...)."""
        if self._closing:
            raise ScopeClosed(self.name)
        self._closers.append(closer)

    def cancel_all(self) -> None:
        """Cancel every task but the caller's, without waiting (from a sync callback); the
        scope stays open."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def drain(self, timeout_s: float) -> None:
        """Let running tasks finish for up to `timeout_s` (e.g. BYEs in flight), then close."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        await self.close()

    async def close(self) -> None:
        """Cancel every task (waiting for them), then run the closers newest first."""
        if self._closing:
            await self.closed.wait()
            return
        self._closing = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        if tasks:  # asyncio.wait never raises the tasks' errors (already logged by _done)
            await asyncio.wait(tasks)
        while self._closers:
            await _run_closer(self._closers.pop(), self.name)
        self.on_failure = None  # closed: no task of ours is left to fail (and no cycle)
        self.closed.set()


async def _run_closer(closer: Closer, name: str) -> None:
    try:
        result = closer()
        if inspect.isawaitable(result):
            await _awaitable(result)
    except Exception:  # a failing release must not leak the others
        log.exception("closing a resource of %s failed", name)


async def _awaitable(result: Awaitable[object]) -> None:
    await result
