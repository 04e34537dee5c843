"""Per-call callback tokens (PRODUCT.md §6.9): opaque `yt_cb_<ULID>` strings that let a voice AI
drive its one call. Only the SHA-256 is stored, with the call, the tenant, the expiry and the
revocation. `verify_callback_token` is the Authenticator's verifier for the `yt_cb_` prefix.

Lifetimes: `30min_with_refresh` agents get a 30 min token and a fresh one at minute 25 and every
25 min after (the fork's refresher asks `mint`); `ws_session` agents get one token living 24 h,
revoked when the fork closes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, update
from ulid import ULID

from yotel.calls.writer import HistoryWriter, Staged, run_alone
from yotel.db.engine import Database
from yotel.db.models import CallbackToken
from yotel.domain.errors import AuthenticationError
from yotel.domain.scopes import CALLBACK_SCOPE
from yotel.tenancy.principal import CredentialKind, Principal

TOKEN_PREFIX = "yt_cb_"
_TOKENS = cast(Table, CallbackToken.__table__)
REFRESHING_LIFETIME = timedelta(minutes=30)
SESSION_LIFETIME = timedelta(hours=24)
_SHAPE = re.compile(r"^yt_cb_[0-9A-HJKMNP-TV-Z]{26}$")  # Crockford base32 ULID


@dataclass(frozen=True)
class MintedToken:
    token: str
    expires_at: datetime

    @property
    def expires_at_iso(self) -> str:
        return iso(self.expires_at)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime_for(token_lifetime: str) -> timedelta:
    return SESSION_LIFETIME if token_lifetime == "ws_session" else REFRESHING_LIFETIME


class CallbackTokens:
    def __init__(self, db: Database, writer: HistoryWriter | None = None) -> None:
        self._db = db
        self._writer = writer

    @staticmethod
    def prepare(*, call_id: str, tenant_id: str, lifetime: timedelta,
                now: datetime | None = None) -> tuple[MintedToken, Staged]:
        """A new token, and the work that stores its hash (to commit with the call's row)."""
        token = f"{TOKEN_PREFIX}{ULID()}"
        created_at = now or datetime.now(UTC)
        expires_at = created_at + lifetime
        row = {"token_hash": hash_token(token), "call_id": call_id, "tenant_id": tenant_id,
               "expires_at": expires_at, "created_at": created_at}
        return MintedToken(token, expires_at), Staged(
            lambda pending: pending.insert(_TOKENS, row))

    async def mint(self, *, call_id: str, tenant_id: str, lifetime: timedelta,
                   now: datetime | None = None) -> MintedToken:
        minted, store = self.prepare(call_id=call_id, tenant_id=tenant_id, lifetime=lifetime,
                                     now=now)
        if self._writer is not None:
            await self._writer.submit(store)
        else:
            await run_alone(self._db, store)
        return minted

    async def revoke_for_call(self, call_id: str, *, now: datetime | None = None) -> None:
        """Every live token of the call stops working (its ws_session fork closed)."""
        async with self._db.write() as session:
            await session.execute(
                update(CallbackToken)
                .where(CallbackToken.call_id == call_id, CallbackToken.revoked_at.is_(None))
                .values(revoked_at=now or datetime.now(UTC)))


async def verify_callback_token(db: Database, token: str, *,
                                now: datetime | None = None) -> Principal:
    """The token's principal (its tenant, its one call, `voice_agent:control` only); 401 for a
    malformed, unknown, expired or revoked token."""
    if not _SHAPE.match(token):
        raise AuthenticationError("malformed callback token")
    digest = hash_token(token)
    async with db.read() as session:
        row = await session.scalar(select(CallbackToken).where(
            CallbackToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise AuthenticationError("unknown callback token")
    if row.revoked_at is not None:
        raise AuthenticationError("the callback token was revoked")
    if row.expires_at <= (now or datetime.now(UTC)):
        raise AuthenticationError("the callback token has expired")
    return Principal(tenant_id=row.tenant_id, kind=CredentialKind.CALLBACK_TOKEN,
                     credential_id=digest[:16], scopes=frozenset({CALLBACK_SCOPE}),
                     call_id=row.call_id, expires_at=row.expires_at)
