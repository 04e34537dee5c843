"""An in-process nudge when this process commits outbox events, so the dispatcher need not
wait for its next poll (p99 event→delivery stays low). Polling still finds what other nodes
wrote.

SQLAlchemy session events, no change to the writers: `after_flush` notes that a session flushed
an `OutboxEvent`, `after_commit` (run once the database has committed, so the rows are
visible) calls the callbacks registered for that session's engine."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from yotel.db.engine import Database
from yotel.db.models import OutboxEvent

_FLAG = "yotel.outbox_written"
_watchers: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary())


def watch_outbox(db: Database, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` after each commit through `db` that wrote outbox events; returns a
    function that stops watching."""
    _install()
    callbacks = _watchers.setdefault(db.engine.sync_engine, [])
    callbacks.append(callback)

    def unwatch() -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    return unwatch


def _after_flush(session: Session, _context: Any) -> None:
    if any(isinstance(row, OutboxEvent) for row in session.new):
        session.info[_FLAG] = True


def _after_commit(session: Session) -> None:
    if not session.info.pop(_FLAG, False):
        return
    bind = session.bind
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    for callback in list(_watchers.get(engine, ())) if engine is not None else ():
        callback()


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_FLAG, None)


def _install() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
