"""FastAPI dependencies: the runtime, and bearer authentication with a required scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from yotel.api.runtime import Runtime
from yotel.tenancy.principal import Principal

# Declared so OpenAPI documents the scheme; the header itself is parsed by the Authenticator,
# which answers missing/garbled credentials with our 401 envelope rather than FastAPI's 403.
_bearer_scheme = HTTPBearer(auto_error=False, description="`yt_live_…` API key")


# Dependencies are `async def` even where they do no I/O: FastAPI runs a plain `def` one in a
# worker thread, a thread hop (and a context switch) on every request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller (401) and requires `scope` (403)."""

    async def authenticated(
        request: Request, runtime: RuntimeDep,
        _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    ) -> Principal:
        principal = await runtime.authenticator.authenticate(request.headers.get("authorization"))
        principal.require(scope)
        return principal

    return authenticated
