"""API-key scopes (PRODUCT.md §3).

`<resource>:write` implies `<resource>:read`; `ai_sessions:control_admin` is opt-in and never
implied by anything. `voice_agent:control` belongs to per-call callback tokens only: it cannot be
granted to an API key.
"""

from __future__ import annotations

from collections.abc import Iterable

_RESOURCES_RW = ("voice_agents", "campaigns", "leads", "flows", "numbers", "calls", "webhooks")

API_KEY_SCOPES: frozenset[str] = frozenset(
    [f"{r}:{m}" for r in _RESOURCES_RW for m in ("read", "write")]
    + ["recordings:read", "supervisor", "tenant:admin", "ai_sessions:control_admin"]
)
CALLBACK_SCOPE = "voice_agent:control"


def parse_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """Validate scopes requested for an API key; raise `ValueError` naming the first unknown one."""
    result = frozenset(scopes)
    unknown = sorted(result - API_KEY_SCOPES)
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}")
    return result


def effective_scopes(granted: Iterable[str]) -> frozenset[str]:
    """The granted scopes plus what they imply (`:write` → `:read`)."""
    result = set(granted)
    for scope in list(result):
        resource, _, mode = scope.partition(":")
        if mode == "write":
            result.add(f"{resource}:read")
    return frozenset(result)


def allows(granted: Iterable[str], required: str) -> bool:
    """True when `granted` (as stored on a key or token) covers `required`."""
    return required in effective_scopes(granted)
