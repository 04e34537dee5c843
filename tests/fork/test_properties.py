"""Property tests for the pure timeline and playout: whatever the network does, the caller
timeline stays one 160-byte frame per slot near the wall clock, and the playout queue accounts
for every byte and answers every mark exactly once (PRODUCT.md §6.3-§6.5)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from yotel.fork.playout import Playout
from yotel.fork.timeline import FRAME, CallerTimeline

MU = b"\xff" * FRAME

# One packet: (timestamp step in frames, arrival jitter in ms, payload frames, lost?)
_packets = st.lists(st.tuples(st.integers(-3, 6), st.floats(0, 120), st.integers(1, 3),
                              st.booleans()), max_size=80)


@settings(max_examples=150, deadline=None)
@given(_packets, st.integers(0, (1 << 32) - 1))
def test_timeline_is_one_frame_per_slot_near_the_wall_clock(packets: list[tuple[int, float,
                                                             int, bool]], base: int) -> None:
    tl = CallerTimeline(MU, start=0.0)
    emitted, ts, now = 0, base, 0.0
    for k, (step, jitter_ms, frames, lost) in enumerate(packets):
        ts = (ts + step * FRAME) % (1 << 32)
        now = max(now, 0.02 * k + jitter_ms / 1000)  # arrivals are in time order
        if not lost:
            out = tl.push(ts, bytes([k % 250]) * (FRAME * frames), now)
            assert all(len(f) == FRAME for f in out)
            emitted += len(out)
            # A packet starts at most max_lead slots ahead; a long one (up to 3 frames) may
            # reach past that by its own length.
            assert tl.next_slot <= int(now / 0.02) + tl.max_lead_frames + 3
        out = tl.tick(now)
        emitted += len(out)
        assert out == [MU] * len(out)
        assert emitted == tl.next_slot  # no slot twice, none skipped
        assert tl.next_slot >= int(now / 0.02) - tl.grace_frames  # overdue slots are filled


_ops = st.lists(st.one_of(
    st.tuples(st.just("audio"), st.integers(0, 2000)),
    st.tuples(st.just("mark"), st.integers(0, 0)),
    st.tuples(st.just("tick"), st.integers(1, 30)),
    st.tuples(st.just("clear"), st.integers(0, 0)),
    st.tuples(st.just("clear_marks"), st.integers(0, 0))), max_size=60)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_playout_accounts_for_every_byte_and_answers_marks_once_in_order(
        ops: list[tuple[str, int]]) -> None:
    p = Playout(max_bytes=4000, max_marks=5)
    accepted = discarded = 0
    asked: list[str] = []
    answered: list[str] = []
    forgotten: set[str] = set()
    for i, (op, n) in enumerate(ops):
        if op == "audio":
            accepted += n - p.append(b"\x01" * n)
        elif op == "mark":
            try:
                answered += [m.name for m in p.add_mark(f"m{i}")]
                asked.append(f"m{i}")
            except OverflowError:
                assert len(p.marks) == 5
        elif op == "tick":
            for _ in range(n):
                frame, marks = p.next_frame()
                assert frame is None or len(frame) == FRAME
                answered += [m.name for m in marks]
        elif op == "clear":
            queued = len(p.queue)
            cleared, marks = p.clear()
            discarded += queued
            assert cleared.discarded_ms == queued // 8
            answered += [m.name for m in marks]
            assert {m.event for m in marks} <= {"cleared"}
        else:
            forgotten |= {m.name for m in p.marks}
            p.clear_marks()
        assert len(p.queue) <= 4000
        assert p.played + len(p.queue) + discarded == accepted
    pending = [m.name for m in p.marks]
    assert answered + pending == [name for name in asked if name not in forgotten]
