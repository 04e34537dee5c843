"""Text the databases can store: NUL and lone surrogates found anywhere in a JSON value."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yotel.domain.text import SAFE_TEXT_PATTERN, first_unstorable, is_storable, json_strings


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udfff", "\x00"])
def test_nul_and_lone_surrogates_are_unstorable(text: str) -> None:
    assert not is_storable(text)


@pytest.mark.parametrize("text", ["", "plain", "\U0001f600 emoji", "caf\u00e9", "\x01\x1f"])
def test_other_text_is_storable(text: str) -> None:
    assert is_storable(text)


def test_a_valid_surrogate_pair_in_json_is_one_character() -> None:
    assert is_storable(json.loads('"\\ud83d\\ude00"'))
    assert not is_storable(json.loads('"\\ud83d"'))


@pytest.mark.parametrize(("value", "where"), [
    ({"a": [1, {"b": "x\x00"}]}, ("a", 1, "b")),
    ({"ok": "fine", "k\x00": 1}, ("k\x00",)),
    (["\ud800"], (0,)),
    ({"a": {"b": ["c"]}}, None),
])
def test_first_unstorable_names_where(value: Any, where: tuple[Any, ...] | None) -> None:
    assert first_unstorable(value) == where


def test_deep_nesting_does_not_recurse() -> None:
    value: Any = "\x00"
    for _ in range(50_000):
        value = [value]
    assert first_unstorable(value) is not None


@given(st.text())
def test_the_documented_pattern_agrees_on_nul(text: str) -> None:
    assert (re.fullmatch(SAFE_TEXT_PATTERN, text) is not None) == ("\x00" not in text)


def test_json_strings_without_keys_still_walks_nested_objects() -> None:
    """The echo net (`api.errors.request_values`) hides every body string, however deep."""
    body = {"edges": [{"from": "a", "to": "node-b"}], "name": {"deep": "x"}}
    assert sorted(text for _, text in json_strings(body, keys=False)) == ["a", "node-b", "x"]
