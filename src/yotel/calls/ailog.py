"""The AI session's log (`ai_sessions.metadata.logs`): the Control API's `log` and
`set_disposition` entries of a live call, kept in memory by the call's owner and written whole.

The owner holds the newest `MAX_ENTRIES` entries, so an entry costs no read: it is a staged
UPDATE by key (calls/writer.py), and a group-commit batch sends every call's log as ONE
executemany; when several entries of one call are in a batch, the first piece writes them all
and the others stage nothing. Each entry is serialized once, when it is appended, and the
document written is those pieces joined (`EncodedJson`): re-serializing a long log on every
write was a block of the event loop that grew with the log. An entry whose write failed is
forgotten, so a later write never persists what its caller was told failed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table

from yotel.calls.writer import Pending, Staged, UpdateShape
from yotel.db.base import EncodedJson
from yotel.db.records import AiSession

MAX_ENTRIES = 1000  # ai_sessions.metadata.logs keeps the newest this many
Entry = dict[str, Any]
_WRITE = UpdateShape(cast(Table, AiSession.__table__), "call_id", ("metadata", "updated_at"))


class AiLog:
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self._entries: list[Entry] = []
        self._encoded: list[str] = []  # each entry's JSON, in step with _entries
        self._appended = 0  # entries ever appended: a version number
        self._staged: tuple[Pending, int] | None = None  # (batch, version it carries)

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries)

    def append(self, entry: Entry) -> Staged:
        """Keep `entry`; the piece of work that writes the log up to it (the caller submits it
        to the call's writer, and calls `forget(entry)` if that fails). The AI session's row
        must exist or be staged before it (the caller checks)."""
        encoded = json.dumps(entry)  # first: an entry that cannot be written is not kept
        self._entries.append(entry)
        self._encoded.append(encoded)
        del self._entries[:-MAX_ENTRIES], self._encoded[:-MAX_ENTRIES]
        self._appended += 1
        version = self._appended

        def stage(pending: Pending) -> None:
            staged = self._staged
            if staged is not None and staged[0] is pending and staged[1] >= version:
                return  # a piece before us in this batch carries our entry already
            pending.update(_WRITE, self.call_id, {"metadata": self._document(),
                                                  "updated_at": datetime.now(UTC)})
            self._staged = (pending, self._appended)

        return Staged(stage)

    def forget(self, entry: Entry) -> None:
        """Its write failed: it must not ride on a later one."""
        kept = [(e, text) for e, text in zip(self._entries, self._encoded, strict=True)
                if e is not entry]
        self._entries = [e for e, _ in kept]
        self._encoded = [text for _, text in kept]

    def _document(self) -> EncodedJson:
        """`{"logs": [...]}` as the JSON text of the kept entries."""
        return EncodedJson('{"logs": [' + ", ".join(self._encoded) + "]}")
