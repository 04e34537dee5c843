"""What each `yotel` command does; `main.py` only parses arguments and prints results."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

from yotel.api.app import create_app
from yotel.api.server import ApiServer
from yotel.cli.runner import Runner
from yotel.db import migrate
from yotel.db.engine import Database
from yotel.domain.errors import ServiceUnavailable
from yotel.node import NodeServices, dialer_component, settle_heap, webhook_component
from yotel.settings import Settings
from yotel.tenancy.api_keys import create_api_key
from yotel.tenancy.tenants import create_tenant

log = logging.getLogger("yotel.cli")


async def prepare_database(db: Database) -> None:
    """The embedded SQLite database migrates itself (first run and after an upgrade of yotel);
    a shared PostgreSQL database is migrated by the operator (`yotel db upgrade`), so several
    nodes never race to change the schema — it only has to be at the latest revision."""
    if db.backend == "sqlite":
        await migrate.upgrade(db)
        return
    current = await migrate.current_revision(db)
    if current != migrate.head_revision():
        raise ServiceUnavailable(
            f"database schema is at {current or 'nothing'}, expected "
            f"{migrate.head_revision()}: run `yotel db upgrade`")


async def db_upgrade(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    db = Database(settings.database().url)
    try:
        await migrate.upgrade(db)
        return {"revision": await migrate.current_revision(db)}
    finally:
        await db.dispose()


async def tenants_create(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    db = Database(settings.database().url)
    try:
        await prepare_database(db)
        tenant = await create_tenant(db, name=args.name, timezone=args.timezone)
        return {"id": tenant.id}
    finally:
        await db.dispose()


async def api_keys_create(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    db = Database(settings.database().url)
    try:
        await prepare_database(db)
        created = await create_api_key(db, tenant_id=args.tenant, scopes=args.scope,
                                       name=args.name)
        return {"id": created.id, "key": created.key, "scopes": list(created.scopes)}
    finally:
        await db.dispose()


def serve(settings: Settings, *, as_json: bool) -> None:
    """Run until SIGINT/SIGTERM, on uvloop when it is installed."""
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # uvloop is optional (e.g. on Windows)
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve(settings, as_json=as_json))


async def _serve(settings: Settings, *, as_json: bool) -> None:
    db = Database(settings.database().url)
    try:
        await prepare_database(db)
    finally:
        await db.dispose()
    api = settings.api()
    node = NodeServices(settings)
    server = ApiServer(create_app(settings, shared=node.shared), host=api.host, port=api.port,
                       limits=api.limits)
    # Stopped newest first: the dialer stops claiming and settles its calls, then the node
    # drains the rest while the API still answers verbs.
    dialer = [dialer_component(settings, node)] if settings.dialer_enabled else []
    webhooks = [webhook_component(settings, node)] if settings.webhooks_enabled else []
    runner = Runner([server, node, *dialer, *webhooks])
    runner.install_signal_handlers()
    settle_heap()
    await runner.run(lambda: _announce(server, node, settings, as_json=as_json))


def _announce(server: ApiServer, node: NodeServices, settings: Settings, *,
              as_json: bool) -> None:
    sip_host, sip_port = node.engine.sip_address
    if as_json:
        announced = {"api_url": server.base_url, "public_url": settings.effective_public_url,
                     "sip": f"udp:{sip_host}:{sip_port}", "node_id": node.calls.config.node_id}
        print(json.dumps(announced), flush=True)
    else:
        log.info("yotel API listening on %s, SIP on udp %s:%d", server.base_url, sip_host,
                 sip_port)
