"""The campaign state machine (PRODUCT.md §4 `status`), pure.

    draft --start--> running --pause--> paused --resume--> running
    draft | running | paused --stop--> stopped        (by the user; final)
    running --complete--> completed                     (by the dialer, no lead left; final)

Any other transition is refused with 409: a request that cannot apply to the campaign's state.
"""

from __future__ import annotations

from typing import Literal, get_args

from yotel.domain.errors import Conflict

Status = Literal["draft", "running", "paused", "completed", "stopped"]
Action = Literal["start", "pause", "resume", "stop", "complete"]
STATUSES: tuple[Status, ...] = get_args(Status)
FINAL: frozenset[Status] = frozenset({"completed", "stopped"})
# Actions the REST API exposes; `complete` belongs to the dialer.
USER_ACTIONS: tuple[Action, ...] = ("start", "pause", "resume", "stop")

_TRANSITIONS: dict[Action, tuple[frozenset[Status], Status]] = {
    "start": (frozenset({"draft"}), "running"),
    "pause": (frozenset({"running"}), "paused"),
    "resume": (frozenset({"paused"}), "running"),
    "stop": (frozenset({"draft", "running", "paused"}), "stopped"),
    "complete": (frozenset({"running"}), "completed"),
}


def next_status(current: str, action: Action) -> Status:
    """The status after `action`, or Conflict (409) saying why it cannot happen."""
    allowed, target = _TRANSITIONS[action]
    if current not in allowed:
        wanted = " or ".join(sorted(allowed))
        raise Conflict(f"cannot {action} a {current} campaign (only a {wanted} one)",
                       details=[{"status": current, "action": action,
                                 "allowed_from": sorted(allowed)}])
    return target
