import pytest

from yotel.net.guard import UnsafeUrlError, check_url_for_save, is_public_address, resolve_public

WS = {"secure_schemes": {"wss"}, "insecure_schemes": {"ws"}}


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "ws://ai.example.com/x",
        "https://ai.example.com/x",
        "wss://127.0.0.1/x",
        "wss://localhost:8443/x",
        "wss://[::1]/x",
        "wss://10.0.0.5/x",
        "wss://169.254.169.254/latest",
        "wss:///nohost",
    ],
)
def test_save_refuses_insecure_or_local(url: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url_for_save(url, allow_insecure=False, **WS)


def test_save_accepts_public_wss() -> None:
    url = "wss://ai.example.com/stream?x=1"
    assert check_url_for_save(url, allow_insecure=False, **WS) == url


def test_insecure_mode_allows_ws_and_loopback_but_not_other_schemes() -> None:
    assert check_url_for_save("ws://127.0.0.1:9000/", allow_insecure=True, **WS)
    with pytest.raises(UnsafeUrlError):
        check_url_for_save("http://127.0.0.1:9000/", allow_insecure=True, **WS)


async def test_resolve_refuses_loopback_names() -> None:
    with pytest.raises(UnsafeUrlError):
        await resolve_public("localhost", 443, allow_insecure=False)
    assert await resolve_public("127.0.0.1", 443, allow_insecure=True) == "127.0.0.1"


async def test_resolve_unknown_name_is_refused() -> None:
    with pytest.raises(UnsafeUrlError):
        await resolve_public("no-such-host.invalid", 443, allow_insecure=True)
