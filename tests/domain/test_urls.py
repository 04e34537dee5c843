from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yotel.domain.errors import ValidationError
from yotel.domain.urls import check_ws_url, url_pattern


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


SECRET = "s3cr3t-value-9f2"


@pytest.mark.parametrize("url", [
    f"wss://user:{SECRET}@ai.example.com/ws", f"wss://{SECRET}@ai.example.com/ws",
    f"wss://ai.example.com/ws?token={SECRET}", f"wss://ai.example.com/ws?a=1&access_token={SECRET}",
    f"wss://ai.example.com/?KEY={SECRET}", f"wss://ai.example.com/?api_key={SECRET}",
    f"wss://ai.example.com/?Signature={SECRET}"])
@pytest.mark.parametrize("insecure", [False, True])
def test_credentials_in_urls_are_refused_and_not_quoted(url: str, insecure: bool) -> None:
    with pytest.raises(ValidationError) as caught:
        check_ws_url(url, allow_insecure=insecure, field="ws_url")
    assert "secret field" in caught.value.message
    assert SECRET not in str(caught.value.message) + str(caught.value.details)


@pytest.mark.parametrize("url", ["wss://ai.example.com:0/", "wss://ai.example.com:65536/",
                                 "wss://ai.example.com/#frag", "wss://a.localhost/",
                                 "wss://localhost.localdomain/", "wss://8.8.8.8/ws",
                                 "wss://ai.example.com/ sp", "wss://ai.example.com/%zz"])
def test_outside_the_documented_grammar_is_refused(url: str) -> None:
    assert re.fullmatch(url_pattern("ws", allow_insecure=False), url) is None
    with pytest.raises(ValidationError) as caught:
        check_ws_url(url, allow_insecure=False, field="ws_url")
    assert url not in caught.value.message


@pytest.mark.parametrize("insecure", [False, True])
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_every_url_the_schema_allows_is_accepted(insecure: bool, data: st.DataObject) -> None:
    """What /openapi.json documents and what the server accepts are the same set: a fuzzer
    drawing from the pattern never meets a 400."""
    url = data.draw(st.from_regex(url_pattern("ws", allow_insecure=insecure), fullmatch=True))
    if len(url) <= 2048:
        assert check_ws_url(url, allow_insecure=insecure, field="ws_url") == url
