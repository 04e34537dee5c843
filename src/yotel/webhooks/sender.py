"""One attempt: POST the signed event to the endpoint, pinned to an address the SSRF guard
approved (`yotel.net.guard.resolve_public`; Host and TLS SNI stay the endpoint's name), with
connect and read timeouts, redirects never followed (a 3xx is a failed attempt), and the
receiver's answer read up to a small cap (`http1`). Transport errors become the attempt's
`error` text here and never leave this module."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from yotel.net.guard import UnsafeUrlError, resolve_public
from yotel.webhooks.http1 import Http1Pool, HttpError, request_bytes
from yotel.webhooks.signature import headers_for
from yotel.webhooks.store import Attempt, Claimed

USER_AGENT = "Yotel-Webhooks/1"
RESOLVE_TTL_S = 30.0  # an approved address is reused this long (it stays pinned either way)


@dataclass(frozen=True, slots=True)
class SenderConfig:
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    allow_insecure: bool = False
    # Keep-alive connections kept per origin: as many as may be in flight, so a busy endpoint
    # is not reconnected for every request beyond a smaller cap.
    max_connections: int = 200

    @property
    def attempt_budget_s(self) -> float:
        """The longest one attempt may take (claims must outlive it)."""
        return 2 * self.connect_timeout_s + 2 * self.read_timeout_s


def body_of(claimed: Claimed) -> bytes:
    return json.dumps(claimed.payload, separators=(",", ":"), ensure_ascii=False).encode()


class Sender:
    def __init__(self, config: SenderConfig) -> None:
        self.config = config
        self._pool = Http1Pool(connect_timeout_s=config.connect_timeout_s,
                               read_timeout_s=config.read_timeout_s,
                               max_idle_per_origin=config.max_connections)
        self._resolved: dict[tuple[str, int], tuple[str, float]] = {}

    async def close(self) -> None:
        await self._pool.close()

    async def send(self, claimed: Claimed) -> Attempt:
        started = time.monotonic()
        if not claimed.secrets:  # never send unsigned
            return Attempt(claimed, None, "the endpoint's signing secret cannot be decrypted",
                           0, datetime.now(UTC))
        code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.config.attempt_budget_s):
                code = await self._post(claimed)
            if 300 <= code < 400:
                error = "redirect not followed (webhook URLs must answer 2xx themselves)"
            elif not 200 <= code < 300:
                error = f"HTTP {code}"
        except UnsafeUrlError as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = "timed out"
        except (HttpError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        latency_ms = round((time.monotonic() - started) * 1000)
        return Attempt(claimed, code, error, latency_ms, datetime.now(UTC))

    async def _post(self, claimed: Claimed) -> int:
        url = urlsplit(claimed.url)
        secure = url.scheme == "https"
        host = url.hostname or ""
        port = url.port or (443 if secure else 80)
        address = await self._resolve(host, port)
        body = body_of(claimed)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **headers_for(claimed.secrets, claimed.event_id, int(time.time()), body)}
        request = request_bytes(target, url.netloc, headers, body)
        return await self._pool.post((address, port, host if secure else None), request)

    async def _resolve(self, host: str, port: int) -> str:
        now = time.monotonic()
        cached = self._resolved.get((host, port))
        if cached is not None and cached[1] > now:
            return cached[0]
        address = await resolve_public(host, port, allow_insecure=self.config.allow_insecure)
        self._resolved[(host, port)] = (address, now + RESOLVE_TTL_S)
        return address
