"""The pure decisions of the flow executor: gather_dtmf's completion and edge choice, and
time_condition's open hours (midnight spans, time zones, DST)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yotel.flows import rules
from yotel.flows.executor import FlowGraph


def test_digit_patterns_follow_the_grammar_the_graph_validates() -> None:
    assert sorted(rules.digit_patterns({"1", "12", "*9#", "timeout", "default"})) == \
        ["*9#", "1", "12"]


@pytest.mark.parametrize(("digits", "patterns", "max_digits", "done"), [
    ("1", ["1", "2"], 4, True),  # a full match nothing extends: at once
    ("1", ["1", "12"], 4, False),  # `12` may still come
    ("12", ["1", "12"], 4, True),
    ("9", ["1", "2"], 4, True),  # no pattern can match any more: default, no waiting
    ("12", [], 3, False),  # only default/timeout edges: up to max_digits
    ("123", [], 3, True),
    ("1", ["123"], 1, True),  # max_digits wins
])
def test_gathering_completes(digits: str, patterns: list[str], max_digits: int,
                             done: bool) -> None:
    assert rules.complete(digits, patterns, max_digits) is done


def test_hash_ends_input_unless_a_pattern_uses_it() -> None:
    assert rules.ends_input("#", ["1", "2"])
    assert not rules.ends_input("#", ["1#"])
    assert not rules.ends_input("5", ["1"])


@pytest.mark.parametrize(("digits", "labels", "edge"), [
    ("1", {"1", "2", "timeout"}, "1"),
    ("", {"1", "timeout", "default"}, "timeout"),
    ("", {"1", "default"}, "default"),
    ("7", {"1", "timeout", "default"}, "default"),
    ("7", {"1", "timeout"}, "timeout"),
    ("7", {"1"}, None),  # no edge fits: the flow ends
])
def test_the_edge_gathered_digits_take(digits: str, labels: set[str], edge: str | None) -> None:
    assert rules.choose_edge(digits, labels) == edge


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(("moment", "hours", "open_"), [
    # Wednesday 2026-11-25 in New York (UTC-5).
    ("2026-11-25T10:00-05:00", [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}], True),
    ("2026-11-25T17:00-05:00", [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}], False),
    ("2026-11-25T08:59-05:00", [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}], False),
    ("2026-11-28T10:00-05:00", [{"days": WEEKDAYS, "start": "09:00", "end": "17:00"}], False),
    # Read in the node's zone: 15:00 UTC is 10:00 in New York.
    ("2026-11-25T15:00+00:00", [{"days": WEEKDAYS, "start": "09:00", "end": "12:00"}], True),
    # fri 22:00-02:00 covers Saturday 01:00 (the span belongs to the day it starts on)...
    ("2026-11-28T01:00-05:00", [{"days": ["fri"], "start": "22:00", "end": "02:00"}], True),
    # ...but not Friday 01:00 (that is Thursday's night, and Thursday is not listed).
    ("2026-11-27T01:00-05:00", [{"days": ["fri"], "start": "22:00", "end": "02:00"}], False),
    ("2026-11-27T23:30-05:00", [{"days": ["fri"], "start": "22:00", "end": "02:00"}], True),
    ("2026-11-29T03:00-05:00", [{"days": ["sun"], "start": "00:00", "end": "00:00"}], True),
    # Several spans: any one opens.
    ("2026-11-25T13:30-05:00", [{"days": WEEKDAYS, "start": "09:00", "end": "12:00"},
                                {"days": WEEKDAYS, "start": "13:00", "end": "17:00"}], True),
    # DST: 2026-03-09 (Monday) New York is UTC-4; 13:30 UTC is 09:30 local.
    ("2026-03-09T13:30+00:00", [{"days": WEEKDAYS, "start": "09:00", "end": "10:00"}], True),
])
def test_open_hours(moment: str, hours: list[dict[str, object]], open_: bool) -> None:
    assert rules.is_open(at(moment), "America/New_York", hours) is open_


def test_an_unlabelled_edge_out_of_play_audio_is_its_done() -> None:
    graph = FlowGraph.build("f", "p", [{"id": "p", "type": "play_audio", "data": {}},
                                       {"id": "h", "type": "hangup"}],
                            [{"from": "p", "to": "h"}])
    assert graph.edges == {("p", "done"): "h"} and graph.labels("p") == {"done"}
