"""Time-ordered ids for bulk inserts: valid UUIDv7 (RFC 9562 §5.7), canonical like every id,
increasing within a batch and across batches."""

from __future__ import annotations

import uuid

from yotel.db.keys import uuid7_batch
from yotel.domain.ids import is_uuid


def test_batch_is_uuid7_and_increasing() -> None:
    ids = uuid7_batch(1000)
    assert ids == sorted(ids) and len(set(ids)) == 1000
    for value in ids[:10]:
        parsed = uuid.UUID(value)
        assert is_uuid(value) and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_timestamp_prefix_orders_batches() -> None:
    first = uuid7_batch(3, now_ms=1_700_000_000_000)
    later = uuid7_batch(3, now_ms=1_700_000_000_001)
    assert max(first) < min(later)
    assert int(first[0].replace("-", "")[:12], 16) == 1_700_000_000_000
