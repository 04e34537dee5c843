"""Text the platform can store, on every backend.

PostgreSQL refuses NUL in `text` and `\\u0000` in `jsonb` (its error would surface as a 500), and
a lone UTF-16 surrogate cannot be encoded as UTF-8 at all, so neither can reach a database, a log
line or a SIP header. SQLite would store both; refusing them at the API edge makes every backend
answer the same 400. Python strings decoded from JSON hold a surrogate code point only when the
JSON held an unpaired `\\ud8xx`/`\\udcxx` escape (a valid pair decodes to one astral character).

The API enforces this on every request (`yotel.api.inputs`) and documents `SAFE_TEXT_PATTERN` on
every request string in `/openapi.json` (`yotel.api.openapi`); body models may refuse NUL
themselves too (`yotel.domain.bodies`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# ECMA-262 and Python `re` read this the same way: any text without NUL. Surrogates are not in the
# pattern: a schema may not hold a lone surrogate (JSON parsers such as serde refuse it).
SAFE_TEXT_PATTERN = r"^[^\x00]*$"
UNSTORABLE_MESSAGE = "must not contain NUL or unpaired surrogate characters"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

Loc = tuple[str | int, ...]


def is_storable(text: str) -> bool:
    """True when `text` holds no NUL and no lone surrogate."""
    return _UNSTORABLE.search(text) is None


def first_unstorable(value: Any, loc: Loc = ()) -> Loc | None:
    """Where the first unstorable string (a value or an object key) sits in a JSON value, or
    None. Iterative, so a deeply nested body cannot exhaust the stack."""
    for where, text in json_strings(value, loc):
        if not is_storable(text):
            return where
    return None


def json_strings(value: Any, loc: Loc = (), *,
                 keys: bool = True) -> Iterator[tuple[Loc, str]]:
    """Every string in a JSON value (and object keys, unless `keys=False`) with where it sits."""
    stack: list[tuple[Loc, Any]] = [(loc, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                if keys and isinstance(key, str):
                    yield (*where, key), key
                stack.append(((*where, key), child))
        elif isinstance(item, list | tuple):
            stack.extend(((*where, index), child) for index, child in enumerate(item))
