"""asyncio building blocks shared by every layer: the task scope."""

from yotel.aio.scope import ScopeClosed, TaskScope

__all__ = ["ScopeClosed", "TaskScope"]
