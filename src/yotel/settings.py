"""Process configuration (PRODUCT.md §2): environment with the `YOTEL_` prefix, and a `.env` file.

There is no module-level instance: the entry point (`yotel.cli`) builds one `Settings` with
`load_settings()` and hands each component the small frozen value it needs (`DatabaseConfig`,
`ApiConfig`, `UrlPolicy`, ...), never the whole object.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from yotel.domain.audio import SUBPROTOCOLS as DEFAULT_SUBPROTOCOLS

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./yotel.db"
SECRET_KEY_FILE = "secret_key"
# PRODUCT.md §7: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_WEBHOOK_DELAYS_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class Settings(BaseSettings):
    """Every knob of one `yotel serve` process. Field `x` is read from `YOTEL_X`."""

    model_config = SettingsConfigDict(
        env_prefix="YOTEL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
    )

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    sip_host: str = "127.0.0.1"
    sip_port: int = Field(default=5060, ge=0, le=65535)
    rtp_port_min: int = Field(default=20000, ge=1024, le=65535)
    rtp_port_max: int = Field(default=29999, ge=1024, le=65535)
    outbound_trunk: str | None = None
    # The FreeSWITCH-era variable wins when set: it names the one subprotocol the media node speaks.
    audio_fork_subprotocols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SUBPROTOCOLS,
        validation_alias=AliasChoices(
            "MOD_AUDIO_FORK_SUBPROTOCOL_NAME", "YOTEL_AUDIO_FORK_SUBPROTOCOLS",
            "audio_fork_subprotocols",
        ),
    )
    recordings_dir: Path = Path("./recordings")
    data_dir: Path = Path("./data")
    # This node's name in `calls.node_id` (the owner of a call's media, PRODUCT.md §9); stable
    # across restarts so a restarted node closes the calls it had live. Default host:sip_port.
    node_id: str | None = None
    sip_advertised_host: str | None = None  # SDP c= and Contact when behind NAT; else sip_host
    # SIGTERM: live calls get this long to end by themselves, then `stop` + close 1001.
    drain_timeout_s: float = Field(default=30.0, ge=0, le=3600)
    # §6.6 token_refresh cadence (25 min); tests shrink it to seconds.
    token_refresh_s: float = Field(default=25 * 60.0, gt=0)
    allow_insecure_urls: bool = False
    secret_key: SecretStr | None = None
    # The dialer (docs/configuration.md): off for a node that should only take inbound calls.
    dialer_enabled: bool = True
    dialer_poll_s: float = Field(default=0.25, gt=0, le=60)  # idle pass interval
    # How long a claimed lead stays this node's; it is dialled only in the first half.
    dialer_claim_lease_s: float = Field(default=60.0, ge=2, le=3600)
    dialer_batch: int = Field(default=100, ge=1, le=10_000)  # leads per claim
    dialer_max_in_flight: int = Field(default=64, ge=1, le=100_000)  # originates under way
    # The webhook dispatcher (docs/configuration.md, "Webhooks"): PRODUCT.md §7's schedule by
    # default; tests shrink the timings to seconds.
    webhooks_enabled: bool = True
    webhook_poll_s: float = Field(default=0.1, gt=0, le=60)
    webhook_min_pass_gap_s: float = Field(default=0.02, ge=0, le=10)
    webhook_batch: int = Field(default=500, ge=1, le=10_000)
    webhook_max_in_flight: int = Field(default=200, ge=1, le=10_000)
    webhook_max_per_endpoint: int = Field(default=20, ge=1, le=10_000)
    webhook_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_read_timeout_s: float = Field(default=15.0, gt=0, le=300)
    webhook_retry_schedule_s: Annotated[tuple[float, ...], NoDecode] = Field(
        default=DEFAULT_WEBHOOK_DELAYS_S, min_length=1, max_length=50)
    webhook_retry_jitter: float = Field(default=0.1, ge=0, le=1)
    webhook_disable_after_s: float = Field(default=5 * 24 * 3600.0, gt=0)
    # The REST API's HTTP/1.1 edge (docs/api.md, "The HTTP edge"): a client that has not sent a
    # whole request head (or body) in time is disconnected, so half-open connections cannot pile up.
    api_header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    api_body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    api_keep_alive_s: float = Field(default=5.0, gt=0, le=300)
    api_max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)

    @field_validator("audio_fork_subprotocols", mode="before")
    @classmethod
    def _split_subprotocols(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _split_delays(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(float(part) for part in value.split(",") if part.strip())
        return value

    @field_validator("redis_url", "public_url", "outbound_trunk", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def effective_public_url(self) -> str:
        """`YOTEL_PUBLIC_URL`, else `http://<api host>:<api port>` (PRODUCT.md §2)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.api_host}:{self.api_port}"

    def database(self) -> DatabaseConfig:
        return DatabaseConfig(url=self.database_url)

    def api(self) -> ApiConfig:
        limits = HttpLimits(header_timeout_s=self.api_header_timeout_s,
                            body_timeout_s=self.api_body_timeout_s,
                            keep_alive_s=self.api_keep_alive_s,
                            max_header_bytes=self.api_max_header_bytes)
        return ApiConfig(host=self.api_host, port=self.api_port,
                         public_url=self.effective_public_url, limits=limits)

    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(allow_insecure=self.allow_insecure_urls)

    def media_node(self) -> MediaNodeConfig:
        return MediaNodeConfig(subprotocols=self.audio_fork_subprotocols)

    def require_secret_key(self) -> SecretStr:
        if self.secret_key is None:
            raise RuntimeError("secret key missing: build settings with load_settings()")
        return self.secret_key


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    url: str


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP/1.1 client may cost the API: seconds to send a request head (from the
    connection or the request's first byte), seconds to send its body, idle seconds between
    keep-alive requests, and bytes of request line plus headers."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_header_bytes: int = 32 * 1024


@dataclass(frozen=True, slots=True)
class ApiConfig:
    host: str
    port: int
    public_url: str
    limits: HttpLimits = HttpLimits()


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Whether tenant URLs may be `ws://`/`http://` or point at local hosts (dev/tests only)."""

    allow_insecure: bool


@dataclass(frozen=True, slots=True)
class MediaNodeConfig:
    """What this media node offers the voice AI on the WebSocket upgrade (PRODUCT.md §6)."""

    subprotocols: tuple[str, ...]


def load_or_create_secret_key(data_dir: Path) -> SecretStr:
    """Read `<data_dir>/secret_key`, creating it (0600, 256 random bits) on first run."""
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return SecretStr(path.read_text(encoding="utf-8").strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return SecretStr(key)


def load_settings(**overrides: Any) -> Settings:
    """Build the process settings once (environment, `.env`, then `overrides`) and make sure a
    secret key exists: `YOTEL_SECRET_KEY`, else one generated into the data dir."""
    settings = Settings(**overrides)
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings
    key = load_or_create_secret_key(settings.data_dir)
    return settings.model_copy(update={"secret_key": key})
