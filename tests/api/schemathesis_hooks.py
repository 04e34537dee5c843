"""Checks of our own for the schemathesis run (`test_schemathesis.py` loads this file through
`SCHEMATHESIS_HOOKS`), beside schemathesis's `--checks all`.

- `error_envelope`: every 4xx/5xx is the JSON envelope, its `request_id` equal to `X-Request-Id`.
- `error_does_not_echo_input`: no error message quotes a value the request sent (path, query or
  body string of 8+ characters: shorter generated values collide with our own wording by chance).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import schemathesis

MIN_ECHO_LENGTH = 8


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    body = response.json()
    assert body["ok"] is False, "error without ok: false"
    assert body["error"]["request_id"] == response.headers["x-request-id"][0], (
        "envelope request_id differs from X-Request-Id")
    return None


@schemathesis.check
def error_does_not_echo_input(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    error = response.json()["error"]
    said = " ".join([error["message"], *(str(d.get("msg", "")) for d in error["details"])])
    for value in _sent_strings(case):
        if len(value) >= MIN_ECHO_LENGTH and value in said:
            raise AssertionError(f"the error message quotes a request value: {said!r}")
    return None


def _sent_strings(case: Any) -> Iterator[str]:
    for source in (case.path_parameters, case.query, case.body):
        yield from _strings(source)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
