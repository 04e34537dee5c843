"""Bearer authentication: dispatch a credential to its verifier by prefix (tenant API keys
`yt_live_…`; per-call callback tokens `yt_cb_…`, registered by the app, PRODUCT.md §6.9).

A verified credential is remembered for `cache_ttl_s` (default 5 s, never past its own expiry),
keyed by its SHA-256: a voice AI driving its call at 10 verbs/s costs one database read per
interval, not ten a second. The price: a revoked key or token keeps working for at most that
long on each node. Failures are not cached. Concurrent requests with the same uncached
credential share one verification (a burst at expiry costs one read, not one per request).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from yotel.db.engine import Database
from yotel.domain.errors import AuthenticationError
from yotel.tenancy.api_keys import KEY_PREFIX, verify_api_key
from yotel.tenancy.principal import Principal

Verifier = Callable[[Database, str], Awaitable[Principal]]


CACHE_TTL_S = 5.0
CACHE_MAX = 10_000


class Authenticator:
    """Turns an `Authorization` header value into a `Principal` or raises 401."""

    def __init__(self, db: Database, *, cache_ttl_s: float = CACHE_TTL_S) -> None:
        self._db = db
        self._verifiers: dict[str, Verifier] = {KEY_PREFIX: verify_api_key}
        self._cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._verifying: dict[str, asyncio.Future[Principal]] = {}

    def register(self, prefix: str, verifier: Verifier) -> None:
        self._verifiers[prefix] = verifier

    async def authenticate(self, authorization: str | None) -> Principal:
        credential = _bearer(authorization)
        digest = hashlib.sha256(credential.encode()).hexdigest()
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        pending = self._verifying.get(digest)
        if pending is None:
            verifier = self._verifier_for(credential)
            pending = asyncio.ensure_future(self._verify(verifier, credential, digest, now))
            self._verifying[digest] = pending
        # Shielded: one waiter's disconnect must not cancel the others' verification.
        return await asyncio.shield(pending)

    def _verifier_for(self, credential: str) -> Verifier:
        for prefix, verifier in self._verifiers.items():
            if credential.startswith(prefix):
                return verifier
        raise AuthenticationError("unrecognised credential")

    async def _verify(self, verifier: Verifier, credential: str, digest: str,
                      now: float) -> Principal:
        try:
            principal = await verifier(self._db, credential)
            self._remember(digest, principal, now)
            return principal
        finally:
            del self._verifying[digest]

    def _remember(self, digest: str, principal: Principal, now: float) -> None:
        if self._cache_ttl_s <= 0:
            return
        until = now + self._cache_ttl_s
        if principal.expires_at is not None:
            left = (principal.expires_at - datetime.now(UTC)).total_seconds()
            until = min(until, now + left)
        if len(self._cache) >= CACHE_MAX:  # bounded: drop the expired, else everything
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
        self._cache[digest] = (until, principal)


def _bearer(authorization: str | None) -> str:
    # RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme name is case-insensitive.
    if not authorization:
        raise AuthenticationError("missing Authorization: Bearer header")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise AuthenticationError("expected Authorization: Bearer <key>")
    return credential
