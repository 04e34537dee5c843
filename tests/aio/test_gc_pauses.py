"""The GC pause counters behind /metrics' yotel_gc_*: every collection counted in its
generation, with the time it held the process."""

from __future__ import annotations

import gc

from yotel.aio.gc_pauses import GcPauses, watch_gc


def test_each_collection_is_counted_and_timed_in_its_generation() -> None:
    pauses = GcPauses()
    gc.callbacks.append(pauses.on_gc)
    try:
        garbage = [[] for _ in range(10_000)]
        for item in garbage:
            item.append(item)  # cycles: only the collector frees them
        del garbage, item
        gc.collect()
    finally:
        gc.callbacks.remove(pauses.on_gc)
    assert pauses.collections[2] == 1
    assert pauses.seconds[2] > 0 and pauses.max_s[2] == pauses.seconds[2]


def test_the_process_hook_is_installed_once() -> None:
    first = watch_gc()
    assert watch_gc() is first
    assert gc.callbacks.count(first.on_gc) == 1
    before = first.collections[2]
    gc.collect()
    assert first.collections[2] == before + 1
