"""Which handler runs a verb: groups 1 and 3 (`verbs.py`), group 2 (`group2.py`,
`escalate.py` via `verbs.HANDLERS`). A verb without a handler is a clear 422, never a 500."""

from __future__ import annotations

from typing import Any

from yotel.control import bodies as b
from yotel.control import group2, verbs
from yotel.control.verbs import VerbContext
from yotel.domain.errors import Unprocessable


async def run_verb(context: VerbContext, verb: b.Verb) -> dict[str, Any]:
    handler = verbs.HANDLERS.get(verb.event) or group2.HANDLERS.get(verb.event)
    if handler is None:
        raise Unprocessable(f"{verb.event} is not available on this version of Yotel yet")
    return await handler(context, verb)
