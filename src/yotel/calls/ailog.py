"""The AI session's log (`ai_sessions.metadata.logs`): the Control API's `log` and
`set_disposition` entries of a live call, kept in memory by the call's owner and written whole.

The owner holds the newest `MAX_ENTRIES` entries, so an entry costs one UPDATE and no read; and
when several entries of one call go out in one group-commit batch (calls/writer.py), the first
piece writes them all and the others write nothing. An entry whose write failed is forgotten,
so a later write never persists what its caller was told failed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from yotel.db.records import AiSession
from yotel.domain.errors import Conflict

MAX_ENTRIES = 1000  # ai_sessions.metadata.logs keeps the newest this many
Entry = dict[str, Any]


class AiLog:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self._entries: list[Entry] = []
        self._appended = 0  # entries ever appended: a version number
        self._written: tuple[AsyncSession, int] | None = None  # (batch session, version)

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries)

    def append(self, entry: Entry) -> tuple[int, Entry]:
        self._entries.append(entry)
        del self._entries[:-MAX_ENTRIES]
        self._appended += 1
        return self._appended, entry

    def forget(self, entry: Entry) -> None:
        """Its write failed: it must not ride on a later one."""
        self._entries = [e for e in self._entries if e is not entry]

    async def write(self, session: AsyncSession, version: int) -> None:
        """Persist the log up to at least `version` in `session`'s transaction (nothing if a
        piece before in the same transaction did already)."""
        written = self._written
        if written is not None and written[0] is session and written[1] >= version:
            return
        result = await session.execute(
            update(AiSession).where(AiSession.call_id == self.call_id)
            .values(metadata_={"logs": list(self._entries)})
            .execution_options(synchronize_session=False))
        if getattr(result, "rowcount", 1) == 0:
            raise Conflict("the call has no AI session yet")
        self._written = (session, self._appended)
