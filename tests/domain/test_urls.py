from __future__ import annotations

import pytest

from yotel.domain.errors import ValidationError
from yotel.domain.urls import check_ws_url


@pytest.mark.parametrize("url", ["ws://ai.example.com/ws", "wss://127.0.0.1/ws",
                                 "wss://localhost:8443", "wss://10.1.2.3/x", "https://a.example",
                                 "wss://[::1]/", "wss:///nohost"])
def test_refused_when_secure(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_ws_url(url, allow_insecure=False, field="ws_url")
    assert caught.value.details[0]["loc"] == ["body", "ws_url"]


@pytest.mark.parametrize("url", ["ws://127.0.0.1:9000/ws", "wss://localhost/ws"])
def test_allowed_when_insecure_urls_are_on(url: str) -> None:
    assert check_ws_url(url, allow_insecure=True, field="ws_url") == url


def test_public_wss_is_fine_and_overlong_is_not() -> None:
    assert check_ws_url("wss://ai.example.com/ws", allow_insecure=False, field="ws_url")
    with pytest.raises(ValidationError):
        check_ws_url("wss://a.example/" + "x" * 3000, allow_insecure=False, field="ws_url")
