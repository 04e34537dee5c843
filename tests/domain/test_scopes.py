from __future__ import annotations

import pytest

from yotel.domain.scopes import API_KEY_SCOPES, allows, effective_scopes, parse_scopes


def test_the_documented_scopes_exactly() -> None:
    resources = ["voice_agents", "campaigns", "leads", "flows", "numbers", "calls", "webhooks"]
    expected = {f"{r}:{m}" for r in resources for m in ("read", "write")}
    expected |= {"recordings:read", "supervisor", "tenant:admin", "ai_sessions:control_admin"}
    assert expected == API_KEY_SCOPES


def test_write_implies_read_only_for_its_resource() -> None:
    assert allows({"voice_agents:write"}, "voice_agents:read")
    assert not allows({"voice_agents:write"}, "campaigns:read")
    assert not allows({"voice_agents:read"}, "voice_agents:write")


def test_control_admin_is_never_implied() -> None:
    everything_else = API_KEY_SCOPES - {"ai_sessions:control_admin"}
    assert "ai_sessions:control_admin" not in effective_scopes(everything_else)
    assert allows({"ai_sessions:control_admin"}, "ai_sessions:control_admin")


@pytest.mark.parametrize("scope", ["voice_agents:admin", "voice_agent:control", "", "*"])
def test_unknown_scopes_are_refused(scope: str) -> None:
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes(["calls:read", scope])
