"""The Authenticator remembers a verified credential briefly (one database read per interval
for an AI driving its call), never past the credential's own expiry, and never a failure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from yotel.db.engine import Database
from yotel.domain.errors import AuthenticationError
from yotel.tenancy.api_keys import create_api_key, revoke_api_key
from yotel.tenancy.auth import Authenticator
from yotel.tenancy.principal import CredentialKind, Principal
from yotel.tenancy.tenants import create_tenant


async def test_a_revoked_key_is_refused_once_the_cache_interval_passes(db: Database) -> None:
    tenant = await create_tenant(db, name="cache")
    created = await create_api_key(db, tenant_id=tenant.id, scopes=["calls:read"])
    auth = Authenticator(db, cache_ttl_s=0.3)
    header = f"Bearer {created.key}"
    first = await auth.authenticate(header)
    await revoke_api_key(db, tenant_id=tenant.id, key_id=created.id)
    assert await auth.authenticate(header) is first  # within the interval: remembered
    await asyncio.sleep(0.35)
    with pytest.raises(AuthenticationError):
        await auth.authenticate(header)
    with pytest.raises(AuthenticationError):  # failures are not remembered either
        await auth.authenticate(header)


async def test_a_cached_credential_never_outlives_its_expiry(db: Database) -> None:
    calls = 0

    async def verifier(_db: Database, _credential: str) -> Principal:
        nonlocal calls
        calls += 1
        return Principal("t", CredentialKind.CALLBACK_TOKEN, "c", frozenset(), call_id="x",
                         expires_at=datetime.now(UTC) + timedelta(seconds=0.2))

    auth = Authenticator(db, cache_ttl_s=60)
    auth.register("yt_test_", verifier)
    await auth.authenticate("Bearer yt_test_1")
    await auth.authenticate("Bearer yt_test_1")
    assert calls == 1
    await asyncio.sleep(0.25)
    await auth.authenticate("Bearer yt_test_1")
    assert calls == 2


async def test_concurrent_misses_share_one_verification(db: Database) -> None:
    calls = 0
    release = asyncio.Event()

    async def verifier(_db: Database, credential: str) -> Principal:
        nonlocal calls
        calls += 1
        await release.wait()
        if credential.endswith("bad"):
            raise AuthenticationError("no")
        return Principal("t", CredentialKind.API_KEY, "k", frozenset())

    auth = Authenticator(db, cache_ttl_s=60)
    auth.register("yt_test_", verifier)
    good = [asyncio.ensure_future(auth.authenticate("Bearer yt_test_good")) for _ in range(50)]
    bad = [asyncio.ensure_future(auth.authenticate("Bearer yt_test_bad")) for _ in range(5)]
    good[0].cancel()  # one waiter gone does not cancel the others' verification
    await asyncio.sleep(0.01)
    release.set()
    principals = await asyncio.gather(*good[1:])
    assert calls == 2 and all(p is principals[0] for p in principals)
    for waiter in bad:
        with pytest.raises(AuthenticationError):
            await waiter
    await auth.authenticate("Bearer yt_test_good")  # remembered
    with pytest.raises(AuthenticationError):
        await auth.authenticate("Bearer yt_test_bad")  # a failure is not
    assert calls == 3
