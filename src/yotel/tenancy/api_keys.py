"""Tenant API keys: minting (the key is shown once) and verification (only its SHA-256 is stored).

Format: `yt_live_<40 url-safe chars>` (240 random bits). The first `PREFIX_LEN` characters of the
random part are stored in clear to find the row; the full key is compared by digest in constant
time. A plain SHA-256 (no salt, no slow KDF) is right here: the key is high-entropy random, so
there is nothing to brute-force, and verification must be cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from yotel.db.engine import Database
from yotel.db.models import ApiKey, Tenant
from yotel.domain.errors import AuthenticationError, NotFound, ValidationError
from yotel.domain.ids import new_id
from yotel.domain.scopes import parse_scopes
from yotel.tenancy.principal import CredentialKind, Principal

KEY_PREFIX = "yt_live_"
PREFIX_LEN = 8
# Writing last_used_at on every request would turn every read into a write; once a minute is
# precise enough to tell a live key from a dead one.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    id: str
    key: str
    tenant_id: str
    scopes: tuple[str, ...]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _lookup_prefix(key: str) -> str | None:
    body = key.removeprefix(KEY_PREFIX)
    if body == key or len(body) < PREFIX_LEN:
        return None
    return body[:PREFIX_LEN]


async def create_api_key(db: Database, *, tenant_id: str, scopes: list[str],
                         name: str | None = None) -> NewApiKey:
    """Mint a key for `tenant_id`; raise ValidationError for an unknown/empty scope list and
    NotFound for an unknown tenant."""
    try:
        granted = parse_scopes(scopes)
    except ValueError as exc:
        raise ValidationError(str(exc), details=[{"loc": ["scope"], "msg": str(exc)}]) from exc
    if not granted:
        raise ValidationError("at least one scope is required")
    key = KEY_PREFIX + secrets.token_urlsafe(30)
    row = ApiKey(id=new_id(), tenant_id=tenant_id, name=name, prefix=_lookup_prefix(key),
                 key_hash=hash_key(key), scopes=sorted(granted))
    async with db.write() as session:
        if await session.get(Tenant, tenant_id) is None:
            raise NotFound(f"tenant {tenant_id} not found")
        session.add(row)
    return NewApiKey(id=row.id, key=key, tenant_id=tenant_id, scopes=tuple(row.scopes))


async def revoke_api_key(db: Database, *, tenant_id: str, key_id: str) -> None:
    async with db.write() as session:
        row = await session.get(ApiKey, key_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"api key {key_id} not found")
        row.revoked_at = datetime.now(UTC)


async def verify_api_key(db: Database, key: str, *, now: datetime | None = None) -> Principal:
    """Return the key's principal; raise AuthenticationError for an unknown or revoked key."""
    prefix = _lookup_prefix(key)
    if prefix is None:
        raise AuthenticationError("invalid API key")
    digest = hash_key(key)
    async with db.read() as session:
        rows = (await session.scalars(select(ApiKey).where(ApiKey.prefix == prefix))).all()
    match = next((r for r in rows if hmac.compare_digest(r.key_hash, digest)), None)
    if match is None or match.revoked_at is not None:
        raise AuthenticationError("invalid or revoked API key")
    now = now or datetime.now(UTC)
    if match.last_used_at is None or now - match.last_used_at >= LAST_USED_RESOLUTION:
        await _touch(db, match.id, now)
    return Principal(tenant_id=match.tenant_id, kind=CredentialKind.API_KEY,
                     credential_id=match.id, scopes=frozenset(match.scopes))


async def _touch(db: Database, key_id: str, now: datetime) -> None:
    async with db.write() as session:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
