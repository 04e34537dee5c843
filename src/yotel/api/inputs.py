"""Screening of every request before any route runs: text the databases cannot store
(`yotel.domain.text`) is a 400 wherever it appears: the path, the query string, a header, or
anywhere in a JSON body, whatever model (or none) the route declares. Routes therefore never
hand NUL or a lone surrogate to PostgreSQL (a 500) or to SQLite (stored, unlike PostgreSQL).

Request models add the same rule at the pydantic edge (`SafeStr`, `InputModel`), which also puts
it in `/openapi.json`; this screen is the net under routes that forget.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import Message, Receive, Scope

from yotel.domain.errors import ValidationError
from yotel.domain.text import UNSTORABLE_MESSAGE, first_unstorable, is_storable

# Where the screened body is kept for the error handlers (`errors.request_values`).
BODY_SCOPE_KEY = "yotel.body"

# UTF-8 bytes of a surrogate code point (ED A0..BF xx); `json.loads` decodes them with
# "surrogatepass", so a body can carry one without any `\u` escape.
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
# A digit followed by a fraction or an exponent (or such text inside a string: then a parse
# finds nothing to change).
_FRACTION = re.compile(rb"[0-9][.eE]")


def screen_target(scope: Scope) -> None:
    """Raise ValidationError when the path, query or a header holds unstorable text."""
    if not is_storable(str(scope.get("path", ""))):
        raise _refused(["path"], "the path " + UNSTORABLE_MESSAGE)
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    # Starlette decodes the query as UTF-8 with replacement, so only %00 can yield a NUL here.
    if "%00" in query and not is_storable(unquote_plus(query)):
        raise _refused(["query"], "the query string " + UNSTORABLE_MESSAGE)
    for name, value in scope.get("headers", ()):
        if b"\x00" in name or b"\x00" in value:
            raise _refused(["header"], "a header " + UNSTORABLE_MESSAGE)


def wants_json_screen(scope: Scope) -> bool:
    """Whether the route may parse this request's body as JSON (FastAPI does so without a
    Content-Type, or with `application/json` or `application/*+json`)."""
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return True


def screen_json_body(body: bytes) -> None:
    """Raise ValidationError when the JSON `body` holds an unstorable string (value or key).
    Bodies that are not JSON are left to the route, which reports them itself."""
    if b"\\u" not in body and _RAW_SURROGATE.search(body) is None:
        return  # neither NUL nor a surrogate can be written without these
    try:
        value = json.loads(body)
    except ValueError:
        return
    where = first_unstorable(value, ("body",))
    if where is not None:  # the loc names the field, never an unstorable key itself
        loc = [part for part in where if not isinstance(part, str) or is_storable(part)]
        raise _refused(loc, "a string in the body " + UNSTORABLE_MESSAGE)


async def screened_receive(scope: Scope, receive: Receive) -> Receive:
    """Read the whole body from `receive` (already size-limited), screen it, keep it in the scope,
    and return a `receive` that replays it to the app."""
    body, instead = await read_body(receive)
    if body is None:
        return replay(None, receive, first=instead)
    scope[BODY_SCOPE_KEY] = body
    screen_json_body(body)
    return replay(integral_numbers(body), receive)


async def read_body(receive: Receive) -> tuple[bytes, None] | tuple[None, Message]:
    """The whole request body from `receive`; or, when the client went away first, None and
    the message that came instead."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), None


def integral_numbers(body: bytes) -> bytes:
    """`body` with every number that has a zero fraction (`5.0`, `5e0`) written as an integer.

    JSON Schema counts those as integers (the value is what matters, not its spelling), so a
    schema-driven client may send `5.0` for an `integer` field; our strict models would refuse
    it. `5.5` stays a float (still refused where an integer is due) and so does a string."""
    if _FRACTION.search(body) is None:
        return body
    changed = False

    def number(text: str) -> float | int:
        nonlocal changed
        value = float(text)
        if value.is_integer():
            changed = True
            return int(value)
        return value

    try:
        value = json.loads(body, parse_float=number)
    except ValueError:
        return body  # the route reports malformed JSON itself
    return json.dumps(value).encode() if changed else body


def replay(body: bytes | None, receive: Receive, *, first: Message | None = None) -> Receive:
    """A `receive` that gives `body` (or `first`) once more, then the client's own messages."""
    pending: list[Message] = [first] if first is not None else [
        {"type": "http.request", "body": body or b"", "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _refused(loc: list[Any], message: str) -> ValidationError:
    return ValidationError(message, details=[
        {"loc": loc, "msg": UNSTORABLE_MESSAGE, "type": "string_unstorable"}])
