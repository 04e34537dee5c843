"""Bearer authentication: dispatch a credential to its verifier by prefix.

Only tenant API keys exist today; per-call callback tokens (`yt_cb_…`, PRODUCT.md §6.9) register a
verifier here when the Control API lands, and every route keeps working unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from yotel.db.engine import Database
from yotel.domain.errors import AuthenticationError
from yotel.tenancy.api_keys import KEY_PREFIX, verify_api_key
from yotel.tenancy.principal import Principal

Verifier = Callable[[Database, str], Awaitable[Principal]]


class Authenticator:
    """Turns an `Authorization` header value into a `Principal` or raises 401."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._verifiers: dict[str, Verifier] = {KEY_PREFIX: verify_api_key}

    def register(self, prefix: str, verifier: Verifier) -> None:
        self._verifiers[prefix] = verifier

    async def authenticate(self, authorization: str | None) -> Principal:
        credential = _bearer(authorization)
        for prefix, verifier in self._verifiers.items():
            if credential.startswith(prefix):
                return await verifier(self._db, credential)
        raise AuthenticationError("unrecognised credential")


def _bearer(authorization: str | None) -> str:
    # RFC 6750 §2.1: `Authorization: Bearer <token>`; the scheme name is case-insensitive.
    if not authorization:
        raise AuthenticationError("missing Authorization: Bearer header")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise AuthenticationError("expected Authorization: Bearer <key>")
    return credential
