"""The dialer's pure parts: pacing, the calling window, the retry policy."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from yotel.dialer.pacing import TokenBucket
from yotel.dialer.retry import RetryPolicy, after_call
from yotel.dialer.window import Window, next_dial_time

# -- pacing -------------------------------------------------------------------------------------


def test_bucket_starts_with_one_call_then_paces_at_its_rate() -> None:
    bucket = TokenBucket(rate=2.0, now=0.0)
    assert bucket.available(0.0) == 1
    bucket.take(1, 0.0)
    assert bucket.available(0.0) == 0 and bucket.wait_s(0.0) == pytest.approx(0.5)
    assert bucket.available(0.49) == 0 and bucket.available(0.5) == 1


def test_bucket_catches_up_at_most_one_second_of_calls() -> None:
    bucket = TokenBucket(rate=5.0, now=0.0)
    assert bucket.available(100.0) == 5
    bucket.take(5, 100.0)
    calls = 0
    for step in range(1, 1001):  # 10 s at 10 ms steps after draining the burst
        now = 100.0 + step / 100
        granted = bucket.available(now)
        bucket.take(granted, now)
        calls += granted
    assert calls == pytest.approx(50, abs=1) and bucket.available(110.0) <= 5


def test_bucket_rate_change_keeps_earned_tokens_within_the_new_cap() -> None:
    bucket = TokenBucket(rate=10.0, now=0.0)
    assert bucket.available(5.0) == 10
    bucket.set_rate(2.0, 5.0)
    assert bucket.available(5.0) == 2


# -- the calling window ---------------------------------------------------------------------------

WEEKDAYS = Window(start=time(9), end=time(17), days=frozenset(range(5)), timezone=None)
NIGHT = Window(start=time(21), end=time(2), days=frozenset({4}))  # Friday 21:00 - Saturday 02:00


def test_window_in_the_leads_zone_else_the_windows_else_the_tenants() -> None:
    now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # a Tuesday: 10:00 in New York
    assert next_dial_time(WEEKDAYS, now, lead_zone="America/New_York",
                          tenant_zone="Asia/Tokyo") == now
    tokyo = next_dial_time(WEEKDAYS, now, lead_zone=None, tenant_zone="Asia/Tokyo")
    # 00:00 Wednesday in Tokyo: opens at 09:00 Tokyo = 00:00 UTC Wednesday.
    assert tokyo == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    windowed = Window(WEEKDAYS.start, WEEKDAYS.end, WEEKDAYS.days, timezone="Europe/Paris")
    assert next_dial_time(windowed, now, lead_zone=None, tenant_zone="Asia/Tokyo") == now


def test_window_after_friday_close_waits_for_monday() -> None:
    friday_evening = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert next_dial_time(WEEKDAYS, friday_evening, lead_zone="UTC", tenant_zone=None) == \
        datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_window_across_midnight_belongs_to_the_day_it_opens() -> None:
    saturday_1am = datetime(2026, 12, 5, 1, 0)
    assert NIGHT.is_open_local(saturday_1am)
    assert not NIGHT.is_open_local(datetime(2026, 12, 5, 2, 0))  # end is exclusive
    assert NIGHT.is_open_local(datetime(2026, 12, 4, 23, 59))
    assert not NIGHT.is_open_local(datetime(2026, 12, 4, 1, 0))  # Friday 01:00: Thursday's
    assert NIGHT.next_open_local(datetime(2026, 12, 5, 3, 0)) == datetime(2026, 12, 11, 21, 0)


def test_window_opening_skipped_by_dst_lands_after_the_gap() -> None:
    early = Window(start=time(2, 30), end=time(5), days=frozenset(range(7)))
    before = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 01:00 EST; 02:30 does not exist that day
    opens = next_dial_time(early, before, lead_zone="America/New_York", tenant_zone=None)
    assert opens == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_no_window_means_now_and_unknown_zones_fall_back() -> None:
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert next_dial_time(None, now, lead_zone="Mars/Base", tenant_zone=None) == now
    assert next_dial_time(WEEKDAYS, now, lead_zone="Mars/Base", tenant_zone=None) == \
        datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_window_from_stored_json() -> None:
    window = Window.from_json({"start": "21:00", "end": "02:00", "days": ["fri"],
                               "timezone": "Europe/Paris"})
    assert window == Window(time(21), time(2), frozenset({4}), "Europe/Paris")
    assert window.spans_midnight


# -- retry --------------------------------------------------------------------------------------

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=3, retry_after_s=60, on=frozenset({"no_answer", "busy"}))


@pytest.mark.parametrize("outcome", ["hangup", "caller_hangup", "ai_disconnected",
                                     "transferred_queue", "failed"])
def test_an_answered_call_completes_the_lead_however_it_ended(outcome: str) -> None:
    verdict = after_call(POLICY, 0, outcome, answered=True, now=NOW)
    assert (verdict.status, verdict.attempts, verdict.next_attempt_at) == ("completed", 1, None)


def test_busy_is_retried_until_attempts_run_out() -> None:
    first = after_call(POLICY, 0, "busy", answered=False, now=NOW)
    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_attempt_at == NOW + timedelta(seconds=60)
    assert after_call(POLICY, 1, "no_answer", answered=False, now=NOW).status == "pending"
    last = after_call(POLICY, 2, "busy", answered=False, now=NOW)
    assert (last.status, last.attempts, last.next_attempt_at) == ("failed", 3, None)


def test_outcomes_outside_the_policy_fail_at_once() -> None:
    for outcome in ("failed", "ai_disconnected"):  # unanswered: classed `failed`, not in `on`
        assert after_call(POLICY, 0, outcome, answered=False, now=NOW).status == "failed"
    everything = RetryPolicy.from_json({"max_attempts": 2, "retry_after_s": 0})
    assert after_call(everything, 0, "ai_disconnected", answered=False, now=NOW).status == \
        "pending"
    assert RetryPolicy.from_json(None) == RetryPolicy()
