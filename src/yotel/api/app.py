"""The FastAPI application factory: `create_app(settings)`.

The lifespan builds the database engine and the counters once per app and closes them on
shutdown; routes reach them through `app.state.runtime` (see `deps.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI

from yotel.api.control_fast import ControlFastPath
from yotel.api.errors import install_error_handlers
from yotel.api.metrics import HttpMetrics
from yotel.api.middleware import DEFAULT_MAX_BODY_BYTES, RequestContextMiddleware
from yotel.api.openapi import install_openapi
from yotel.api.resources import build_resources, include_routers, voice_agent_reference_checks
from yotel.api.routes import control, escalations, health, tenant, voice_agents
from yotel.api.runtime import Runtime
from yotel.calls.tokens import TOKEN_PREFIX as CALLBACK_TOKEN_PREFIX
from yotel.calls.tokens import verify_callback_token
from yotel.control.service import ControlService
from yotel.counters import Counters, counters_from_url
from yotel.db.engine import Database
from yotel.domain.secretbox import SecretBox
from yotel.settings import Settings
from yotel.tenancy.auth import Authenticator
from yotel.voice_agents.service import VoiceAgentService

if TYPE_CHECKING:
    from yotel.node import Shared

API_PREFIX = "/api/v1"


def create_app(settings: Settings, *, counters: Counters | None = None,
               shared: Shared | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The REST API. Run by `yotel serve`, it shares the node's services (`shared`: database,
    counters, call layer); alone (tests of the API), it builds its own database and counters
    (`counters` may be injected) and has no call layer."""
    database_url = settings.database().url
    secret = settings.require_secret_key().get_secret_value()
    allow_insecure = settings.url_policy().allow_insecure
    redis_url = settings.redis_url
    public_url = settings.effective_public_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if shared is not None:
                db, backend, box = shared.db, shared.counters, shared.box
                service = shared.voice_agents
            else:
                db = Database(database_url)
                stack.push_async_callback(db.dispose)
                if counters is None:  # ours to build and to close
                    backend = counters_from_url(redis_url)
                    stack.push_async_callback(backend.close)
                else:
                    backend = counters
                box = SecretBox(secret)
                service = VoiceAgentService(db=db, box=box, counters=backend,
                                            allow_insecure_urls=allow_insecure,
                                            reference_checks=voice_agent_reference_checks())
            app.state.resources = build_resources(db, box, allow_insecure_urls=allow_insecure,
                                                  public_url=public_url)
            app.state.calls = shared.calls if shared is not None else None
            if shared is not None:
                metrics.watch_engine(shared.calls.engine)
            app.state.control = ControlService(db=db, counters=backend, calls=app.state.calls,
                                               allow_insecure=allow_insecure)
            authenticator = Authenticator(db)
            authenticator.register(CALLBACK_TOKEN_PREFIX, verify_callback_token)
            app.state.runtime = Runtime(
                db=db, counters=backend, authenticator=authenticator, voice_agents=service,
                allow_insecure_urls=allow_insecure, redis_configured=redis_url is not None)
            yield

    # No trailing-slash redirects: Starlette builds them from the client's Host header, so a
    # forged Host would make us send a client elsewhere (`/x/` is a 404 instead).
    app = FastAPI(title="Yotel", version="1", lifespan=lifespan, redirect_slashes=False,
                  description="Telephony for voice AI: REST API (PRODUCT.md §3).")
    install_openapi(app, allow_insecure_urls=allow_insecure)
    metrics = HttpMetrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    # Added first, so it runs inside RequestContextMiddleware (request id, limits, screens, log).
    app.add_middleware(ControlFastPath, prefix=API_PREFIX)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=max_body_bytes)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(voice_agents.router)
    api.include_router(tenant.router)
    api.include_router(control.router)
    api.include_router(escalations.router)
    include_routers(api)
    app.include_router(api)
    app.include_router(health.router)
    return app
