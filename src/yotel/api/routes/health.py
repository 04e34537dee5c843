"""Probes and metrics: `/healthz` (the process answers), `/readyz` (its backends answer),
`/metrics` (Prometheus text format). No authentication: they expose no tenant data."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from yotel.api.deps import RuntimeDep
from yotel.api.metrics import CONTENT_TYPE, HttpMetrics
from yotel.counters import CountersUnavailableError
from yotel.domain.errors import ServiceUnavailable

router = APIRouter(tags=["operations"])
PROBE_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, bool]:
    return {"ok": True}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> dict[str, object]:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await runtime.db.ping()
    except (ServiceUnavailable, TimeoutError) as exc:
        raise ServiceUnavailable("database is not ready") from exc
    checks["database"] = "ok"
    if runtime.redis_configured:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await runtime.counters.get("readyz:probe")
        except (CountersUnavailableError, TimeoutError) as exc:
            raise ServiceUnavailable("redis is not ready") from exc
        checks["redis"] = "ok"
    else:
        checks["redis"] = "not_configured"
    return {"ok": True, "checks": checks}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: HttpMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
