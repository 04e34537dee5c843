"""The callback-token refresh schedule of `30min_with_refresh` agents (PRODUCT.md §6.6): a
fresh token at minute 25 and every 25 minutes after; the old one stays valid until its own
expiry. The clock (`sleep`) is injected so the schedule is testable in milliseconds."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
MintToken = Callable[[], Awaitable[tuple[str, str]]]  # -> (token, expires_at)
Sleep = Callable[[float], Awaitable[None]]
REFRESH_S = 25 * 60.0
RETRY_S = 30.0  # a failed mint: the old 30 min token has 5 minutes left, not 25


async def refresh_tokens(mint: MintToken, deliver: Callable[[str, str], None], *,
                         every_s: float = REFRESH_S, sleep: Sleep) -> None:
    """Run until cancelled: mint on schedule and `deliver(token, expires_at)` each new token."""
    delay = every_s
    while True:
        await sleep(delay)
        try:
            token, expires_at = await mint()
        except Exception:
            log.exception("minting a refreshed callback token failed")
            delay = min(RETRY_S, every_s)
            continue
        delay = every_s
        deliver(token, expires_at)
