"""The campaign state machine: every (status, action) pair is either the documented transition
or a 409 that says what was allowed."""

from __future__ import annotations

import pytest

from yotel.campaigns.states import STATUSES, next_status
from yotel.domain.errors import Conflict

ALLOWED = {("draft", "start"): "running", ("running", "pause"): "paused",
           ("paused", "resume"): "running", ("draft", "stop"): "stopped",
           ("running", "stop"): "stopped", ("paused", "stop"): "stopped",
           ("running", "complete"): "completed"}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ["start", "pause", "resume", "stop", "complete"])
def test_every_pair(status: str, action: str) -> None:
    expected = ALLOWED.get((status, action))
    if expected is not None:
        assert next_status(status, action) == expected  # type: ignore[arg-type]
        return
    with pytest.raises(Conflict) as refused:
        next_status(status, action)  # type: ignore[arg-type]
    assert refused.value.status == 409 and status in refused.value.message
    assert refused.value.details[0]["allowed_from"]
