"""The caller timeline (§6.3) and the AI playout queue (§6.4-§6.5), pure, time passed in."""

from __future__ import annotations

import pytest

from yotel.fork.frames import Cleared, MarkEvent
from yotel.fork.playout import Playout
from yotel.fork.timeline import CallerTimeline, silence_frame

MU = b"\xff" * 160


def frame(k: int) -> bytes:
    return bytes([k % 256]) * 160


def test_silence_is_the_law_of_the_agent() -> None:
    assert silence_frame("pcmu") == MU and silence_frame("pcma") == b"\xd5" * 160
    with pytest.raises(ValueError):
        silence_frame("opus")


def test_in_order_packets_are_emitted_on_arrival_not_on_the_tick() -> None:
    tl = CallerTimeline(MU, start=0.0)
    for k in range(5):
        assert tl.push(5000 + 160 * k, frame(k), 0.005 + 0.02 * k) == [frame(k)]
    assert tl.tick(0.1) == []  # nothing overdue
    assert tl.next_slot == 5 and tl.filled == 0


def test_first_packet_is_anchored_to_its_arrival_slot() -> None:
    tl = CallerTimeline(MU, start=0.0)
    assert tl.push(777, frame(1), 0.065) == [MU, MU, MU, frame(1)]  # slots 0-2 silent


def test_gap_is_filled_before_a_future_packet_and_late_ones_are_dropped() -> None:
    tl = CallerTimeline(MU, start=0.0)
    tl.push(0, frame(0), 0.0)
    assert tl.push(480, frame(3), 0.07) == [MU, MU, frame(3)]
    assert tl.push(160, frame(1), 0.071) == []  # its slot went out as silence
    assert tl.push(480, frame(3), 0.072) == []  # duplicate
    assert tl.late == 2 and tl.filled == 2


def test_tick_fills_only_slots_past_the_grace() -> None:
    tl = CallerTimeline(MU, start=0.0)
    tl.push(0, frame(0), 0.001)
    # Slot 1's packet is expected at ~20 ms; it is given up after more than two frames.
    assert tl.tick(0.079) == []
    assert tl.tick(0.081) == [MU]
    assert tl.tick(0.2) == [MU] * 6  # hold/mute: silence keeps the timeline going
    assert tl.push(160 * 8, frame(8), 0.201) == [frame(8)]


def test_timestamp_wrap() -> None:
    tl = CallerTimeline(MU, start=0.0)
    assert tl.push(0xFFFFFF60, frame(0), 0.0) == [frame(0)]
    assert tl.push(0x00000000, frame(1), 0.02) == [frame(1)]
    assert tl.push(0x000000A0, frame(2), 0.04) == [frame(2)]
    assert tl.push(0xFFFFFF60, frame(0), 0.05) == []


def test_a_sender_whose_clock_falls_behind_is_reanchored_not_dropped_forever() -> None:
    tl = CallerTimeline(MU, start=0.0)
    tl.push(0, frame(0), 0.0)
    tl.tick(0.5)  # 500 ms of hold: silence up to slot 22
    # Timestamps froze across the hold: the next packet claims slot 1, but it is the newest.
    assert tl.push(160, frame(1), 0.5) == [frame(1)]
    assert tl.push(320, frame(2), 0.52) == [frame(2)]
    assert tl.reanchored == 1 and tl.late == 0


def test_a_timestamp_jump_ahead_is_a_new_base_not_minutes_of_silence() -> None:
    tl = CallerTimeline(MU, start=0.0)
    tl.push(0, frame(0), 0.0)
    assert tl.push(0x40000000, frame(1), 0.02) == [frame(1)]
    assert tl.reanchored == 1


def test_long_and_short_packets_become_whole_frames() -> None:
    tl = CallerTimeline(MU, start=0.0)
    assert tl.push(0, b"\x01" * 320, 0.0) == [b"\x01" * 160, b"\x01" * 160]
    assert tl.push(320, b"\x02" * 100, 0.04) == [b"\x02" * 100 + b"\xff" * 60]
    assert tl.next_slot == 3


def test_playout_starts_after_a_full_frame_and_holds_a_ragged_tail_one_tick() -> None:
    p = Playout()
    p.append(b"\x01" * 100)
    assert p.next_frame() == (None, [])
    p.append(b"\x01" * 100)  # the rest arrived in time: no padding
    assert p.next_frame()[0] == b"\x01" * 160
    assert p.next_frame() == (None, [])  # 40 bytes left: held one tick
    assert p.next_frame()[0] == b"\x01" * 40 + b"\xff" * 120
    assert p.played_ms == 25 and p.next_frame() == (None, [])


def test_playout_cap_drops_the_excess() -> None:
    p = Playout()
    assert p.append(b"\0" * (61 * 8000)) == 8000
    assert p.queued_ms == 60_000 and p.append(b"\0") == 1


def test_marks_fire_in_order_when_playout_reaches_them() -> None:
    p = Playout()
    assert p.add_mark("empty") == [MarkEvent("empty", "playout", 0)]
    p.append(b"\x01" * 320)
    assert p.add_mark("a") == []
    p.append(b"\x02" * 160)
    assert p.add_mark("b") == []
    assert p.next_frame() == (b"\x01" * 160, [])
    assert p.next_frame() == (b"\x01" * 160, [MarkEvent("a", "playout", 40)])
    assert p.next_frame() == (b"\x02" * 160, [MarkEvent("b", "playout", 60)])


def test_clear_answers_cleared_and_pending_marks() -> None:
    p = Playout()
    p.append(b"\x01" * 800)
    p.add_mark("end")
    p.next_frame()
    cleared, marks = p.clear()
    assert cleared == Cleared(played_ms=20, discarded_ms=80)
    assert marks == [MarkEvent("end", "cleared", 20)]
    assert p.next_frame() == (None, []) and p.marks == type(p.marks)()
    p.append(b"\x03" * 160)
    assert p.next_frame()[0] == b"\x03" * 160


def test_clear_marks_is_silent_and_the_mark_limit_holds() -> None:
    p = Playout()
    p.append(b"\x01" * 160)
    for i in range(100):
        p.add_mark(f"m{i}")
    with pytest.raises(OverflowError):
        p.add_mark("m100")
    p.clear_marks()
    assert p.next_frame() == (b"\x01" * 160, [])
    assert p.clear()[1] == []


def test_a_burst_after_a_stall_is_trimmed_back_towards_the_wall_clock() -> None:
    tl = CallerTimeline(MU, start=0.0)
    tl.push(0, frame(0), 0.001)
    assert tl.tick(0.2) == [MU] * 7  # a 200 ms stall: slots 1..7 went out as silence
    # The stalled packets 1..10 arrive at once (wall clock: slot 10). The first takes slot 8;
    # the timeline may run at most 5 frames (100 ms) ahead, so 9 and 10 are trimmed.
    out = [f for k in range(1, 11) for f in tl.push(160 * k, frame(k), 0.201)]
    assert out == [frame(k) for k in range(1, 9)]
    assert tl.next_slot == 16 and tl.trimmed == 2 and tl.late == 0
    # Real time resumes: packet 11 is the next frame, with no invented gap.
    assert tl.push(160 * 11, frame(11), 0.221) == [frame(11)]
    assert tl.next_slot == 17 and tl.filled == 7


def test_a_sender_whose_clock_runs_fast_loses_frames_not_alignment() -> None:
    tl = CallerTimeline(MU, start=0.0)
    emitted = 0
    for k in range(200):  # 5 % fast: 200 packets in 190 frame times
        emitted += len(tl.push(160 * k, frame(k), k * 0.019 + 0.001))
    now_slot = int((199 * 0.019 + 0.001) / 0.02)
    assert now_slot < tl.next_slot <= now_slot + tl.max_lead_frames + 1
    assert emitted == tl.next_slot and tl.trimmed >= 4 and tl.late == 0 and tl.filled == 0


def test_a_stalled_loop_told_the_due_time_fills_nothing_and_loses_nothing() -> None:
    # The node's loop stalls 90 ms; then the clock runs its overdue ticks (told their due
    # time, media/clock.py) and between them the loop reads the packets buffered meanwhile.
    tl = CallerTimeline(MU, start=0.0)
    assert tl.push(0, frame(0), 0.001) == [frame(0)]
    out = tl.tick(0.02)  # the first overdue tick, run at 0.091
    out += [f for k in range(1, 5) for f in tl.push(160 * k, frame(k), 0.0911)]
    for due in (0.04, 0.06, 0.08):
        out += tl.tick(due)
    assert out == [frame(k) for k in range(1, 5)]
    assert tl.filled == tl.late == tl.trimmed == tl.reanchored == 0


def test_skipped_ticks_delay_playout_at_most_max_late_then_the_due_frames_go() -> None:
    playout = Playout(max_late_ms=100)  # 5 frames of delay kept
    playout.append(b"".join(bytes([k]) * 160 for k in range(50)))
    playout.add_mark("m")  # at the end of those 50 frames
    assert playout.fall_behind(3) == (0, [])  # a hiccup: 60 ms later, nothing lost
    assert playout.fall_behind(4) == (2 * 160, [])  # 140 ms: the 2 frames beyond 100 go
    assert playout.next_frame()[0] == bytes([2]) * 160  # frames 0 and 1 were due meanwhile
    assert playout.played == 3 * 160  # their time has passed: they count as played
    dropped, marks = playout.fall_behind(100)  # far behind: all that was due goes
    assert dropped == 47 * 160 and marks == [MarkEvent("m", "playout", 1000)]
    assert playout.next_frame() == (None, [])


def test_an_empty_queue_is_on_time_again() -> None:
    playout = Playout(max_late_ms=100)
    playout.append(bytes(160 * 4))
    assert playout.fall_behind(4) == (0, [])  # 80 ms late
    for _ in range(4):
        playout.next_frame()
    playout.next_frame()  # the queue ran dry: the AI was waiting for us, not behind
    playout.append(bytes(160 * 10))
    assert playout.fall_behind(4) == (0, [])  # 80 ms again, not 160: nothing dropped
    assert playout.fall_behind(0) == (0, [])
    assert Playout().fall_behind(10) == (0, [])  # nothing queued: nothing to be late
