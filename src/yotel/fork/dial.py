"""Opening the audio-fork WebSocket (PRODUCT.md §6.1): configuration, the SSRF-pinned dial,
Bearer auth and the subprotocol check. The session logic lives in `client.py`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from yotel.domain.audio import DRACHTIO_SUBPROTOCOL
from yotel.fork import frames
from yotel.fork.connection import CALL_ENDED, PROTOCOL_VIOLATION, TOKEN_INVALID, GatedConnection
from yotel.fork.limits import ForkLimits
from yotel.net.guard import UnsafeUrlError, resolve_public

log = logging.getLogger(__name__)
__all__ = ["CALL_ENDED", "PROTOCOL_VIOLATION", "TOKEN_INVALID", "ForkConfig", "ForkConnectError",
           "dial", "redial", "send_metadata"]


class ForkConnectError(Exception):
    """The AI could not be reached, refused us, or did not select the subprotocol."""


@dataclass(frozen=True)
class ForkConfig:
    """One voice agent's fork settings; the timings are PRODUCT.md §6 defaults, shrinkable
    for tests."""

    url: str
    subprotocol: str = DRACHTIO_SUBPROTOCOL
    auth_token: str | None = None
    encoding: str = "pcmu"
    allow_insecure: bool = False
    connect_timeout_s: float = 5.0  # DNS + TCP + (TLS) + upgrade
    ping_interval_s: float = 10.0
    ping_timeout_s: float = 5.0
    close_timeout_s: float = 2.0  # how long a closing handshake (ours or a failed ping's) waits
    reconnect_first_s: float = 0.25
    reconnect_max_s: float = 2.0
    reconnect_budget_s: float = 8.0
    token_refresh_s: float | None = 25 * 60  # None: no refresh (ws_session agents)
    backlog_frames: int = 25  # 500 ms of caller audio
    # The socket's own write buffer (websockets' high-water mark): kept small so a slow AI's
    # back-pressure reaches the 500 ms backlog instead of hiding seconds of audio in it.
    write_buffer_bytes: int = 4096
    warning_interval_s: float = 1.0  # at most one playout_overflow warning per interval
    text_backlog: int = 512  # Yotel -> AI text frames waiting; beyond, replies are dropped
    # websockets' own message limit (1009 beyond), a backstop only: the gate (`limits`) already
    # cuts binary messages to the 60 s cap and drops text over 1 MiB before websockets sees them.
    max_message_bytes: int = 4 << 20
    limits: ForkLimits = field(default_factory=ForkLimits)  # what one AI may send (fairness)


async def dial(config: ForkConfig, timeout_s: float) -> GatedConnection:
    """Open the socket within `timeout_s` (DNS included); ForkConnectError on any failure."""
    headers = {"Authorization": f"Bearer {config.auth_token}"} if config.auth_token else None
    try:
        async with asyncio.timeout(timeout_s):
            pinned = await _pinned_address(config)
            ws = await connect(
                config.url, subprotocols=[Subprotocol(config.subprotocol)],
                additional_headers=headers, open_timeout=None, proxy=None,
                ping_interval=config.ping_interval_s, ping_timeout=config.ping_timeout_s,
                close_timeout=config.close_timeout_s, max_size=config.max_message_bytes,
                compression=None, write_limit=config.write_buffer_bytes,
                user_agent_header="yotel-audio-fork/1",
                create_connection=GatedConnection.with_limits(config.limits), **pinned)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError, UnsafeUrlError) as exc:
        raise ForkConnectError(f"cannot open the audio fork: {exc!r}") from exc
    if ws.subprotocol != config.subprotocol:  # §6.1: not selecting it fails the connect
        await ws.close(PROTOCOL_VIOLATION, "subprotocol not selected")
        raise ForkConnectError(f"the AI did not select subprotocol {config.subprotocol}")
    assert isinstance(ws, GatedConnection)
    return ws


async def _pinned_address(config: ForkConfig) -> dict[str, Any]:
    """Connect to the address the SSRF guard checked, not whatever DNS says next; the URL still
    supplies the Host header and (for wss) the TLS server name."""
    parts = urlsplit(config.url)
    host = parts.hostname or ""
    secure = parts.scheme == "wss"
    port = parts.port or (443 if secure else 80)
    address = await resolve_public(host, port, allow_insecure=config.allow_insecure)
    pinned: dict[str, Any] = {"host": address, "port": port}
    if secure:
        pinned["server_hostname"] = host
    return pinned


async def send_metadata(ws: ClientConnection, metadata: frames.Metadata) -> None:
    """The first frame on every socket (§6.2); ForkConnectError if the AI is already gone."""
    try:
        await ws.send(bytes(metadata), text=True)
    except ConnectionClosed as exc:
        raise ForkConnectError("the AI closed before metadata") from exc


async def redial(config: ForkConfig, metadata: Callable[[], frames.Metadata],
                 wanted: Callable[[], bool]) -> GatedConnection | None:
    """§6.7: redial with back-off (250 ms doubling, ≤ 2 s apart, ≤ 8 s in all), sending
    `metadata()` (the resumed frame) on success; None when the budget ran out or `wanted()`
    turned False."""
    loop = asyncio.get_running_loop()
    lost_at, delay = loop.time(), config.reconnect_first_s
    while wanted():
        remaining = config.reconnect_budget_s - (loop.time() - lost_at) - delay
        if remaining <= 0:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, config.reconnect_max_s)
        try:
            ws = await dial(config, min(config.connect_timeout_s, remaining))
            await send_metadata(ws, metadata())
        except ForkConnectError as exc:
            log.info("audio fork redial failed: %s", exc)
            continue
        return ws
    return None
