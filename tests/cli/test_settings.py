from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from yotel.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("YOTEL_") or name == "MOD_AUDIO_FORK_SUBPROTOCOL_NAME":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def test_defaults_match_the_contract() -> None:
    s = Settings()
    assert s.database_url == "sqlite+aiosqlite:///./yotel.db"
    assert s.redis_url is None and s.outbound_trunk is None
    assert (s.api_host, s.api_port, s.sip_host, s.sip_port) == ("127.0.0.1", 8080,
                                                               "127.0.0.1", 5060)
    assert (s.rtp_port_min, s.rtp_port_max) == (20000, 29999)
    assert s.audio_fork_subprotocols == ("audio.drachtio.org", "audio.jambonz.org")
    assert s.recordings_dir == Path("./recordings") and s.allow_insecure_urls is False
    assert s.data_dir == Path("./data")
    assert s.effective_public_url == "http://127.0.0.1:8080"
    assert s.secret_key is None


def test_environment_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOTEL_API_PORT", "9001")
    monkeypatch.setenv("YOTEL_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("YOTEL_ALLOW_INSECURE_URLS", "true")
    monkeypatch.setenv("YOTEL_PUBLIC_URL", "https://yotel.example.com/")
    monkeypatch.setenv("YOTEL_AUDIO_FORK_SUBPROTOCOLS", "audio.jambonz.org, audio.drachtio.org")
    s = Settings()
    assert (s.api_port, s.redis_url, s.allow_insecure_urls) == (
        9001, "redis://127.0.0.1:6379/0", True)
    assert s.effective_public_url == "https://yotel.example.com"
    assert s.api().public_url == "https://yotel.example.com"
    assert s.media_node().subprotocols == ("audio.jambonz.org", "audio.drachtio.org")
    monkeypatch.setenv("MOD_AUDIO_FORK_SUBPROTOCOL_NAME", "audio.drachtio.org")
    assert Settings().audio_fork_subprotocols == ("audio.drachtio.org",)


def test_dotenv_is_read_and_values_are_validated(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("YOTEL_SIP_PORT=5080\nYOTEL_OUTBOUND_TRUNK=sip:t.example:5060\n")
    s = Settings()
    assert (s.sip_port, s.outbound_trunk) == (5080, "sip:t.example:5060")
    monkeypatch.setenv("YOTEL_API_PORT", "99999")
    with pytest.raises(ValidationError):
        Settings()


def test_secret_key_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_settings(data_dir=data)
    key_file = data / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.secret_key is not None and len(first.secret_key.get_secret_value()) >= 32
    assert first.secret_key.get_secret_value() not in repr(first)
    second = load_settings(data_dir=data)
    assert second.secret_key == first.secret_key


def test_configured_secret_key_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("YOTEL_SECRET_KEY", "from-env")
    s = load_settings(data_dir=tmp_path / "d")
    assert s.require_secret_key().get_secret_value() == "from-env"
    assert not (tmp_path / "d" / "secret_key").exists()
    with pytest.raises(ValidationError):
        s.api_port = 1  # type: ignore[misc]  # frozen: components see one consistent value
    monkeypatch.delenv("YOTEL_SECRET_KEY")
    with pytest.raises(RuntimeError):
        Settings().require_secret_key()
