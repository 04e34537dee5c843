"""Webhook dispatch throughput and event→delivery latency.

    .venv/bin/python bench/webhooks.py --events 5000 \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

A tenant with one endpoint (`["*"]`) pointing at a receiver in its own process (127.0.0.1, a
keep-alive HTTP/1.1 server answering 200 at once), and the dispatcher of `yotel serve`
in-process on the given database (migrated first; default a fresh SQLite file). Two phases:
- throughput: `--events` events (six per call, so per-call order constrains the work as real
  calls do) are written in one transaction, then the dispatcher starts; events/s is the count
  over the time from its start to the receiver's last arrival;
- latency: `--latency-events` events written one transaction each at `--rate` per second, each
  nudging the dispatcher as the call layer's commits do; event→delivery is the receiver's
  arrival time minus the event's `created_at`.
The last line printed is one JSON object; `cpu_s` is this process's CPU time (a shared
machine's wall time says as much about the neighbours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from yotel.calls.history import envelope, new_event_id
from yotel.db import migrate
from yotel.db.engine import Database
from yotel.db.models import OutboxEvent, Tenant
from yotel.domain.secretbox import SecretBox
from yotel.tenancy.tenants import create_tenant
from yotel.webhooks.dispatcher import Dispatcher, DispatcherConfig
from yotel.webhooks.schemas import EndpointCreate
from yotel.webhooks.sender import SenderConfig
from yotel.webhooks.service import WebhookService
from yotel.webhooks.wakeup import watch_outbox

KINDS = ("call.started", "call.answered", "ai_session.started", "ai_session.ended",
         "call.ended", "call.recording_ready")
SECRET = "bench-secret"


async def receiver() -> None:
    """Child mode: answer 200 to every POST, print the port, and on stdin's EOF print one JSON
    line of {webhook-id: arrival time}."""
    arrivals: dict[str, float] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.time()
                size, msg_id = 0, ""
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        size = int(value)
                    elif name.lower() == b"webhook-id":
                        msg_id = value.strip().decode()
                await reader.readexactly(size)
                arrivals.setdefault(msg_id, now)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    print(json.dumps(arrivals), flush=True)


def _row(tenant_id: str, call_id: str, kind: str, sequence: int) -> OutboxEvent:
    now = datetime.now(UTC)
    event_id = new_event_id()
    payload = envelope(event_id, kind, tenant_id, now, {"call_id": call_id, "bench": True})
    return OutboxEvent(id=event_id, tenant_id=tenant_id, call_id=call_id, type=kind,
                       payload=payload, sequence=sequence, created_at=now)


def _calls_rows(tenant_id: str, count: int) -> list[OutboxEvent]:
    calls = [str(uuid.uuid4()) for _ in range(-(-count // len(KINDS)))]
    rows = [_row(tenant_id, call, kind, seq) for seq, kind in enumerate(KINDS, start=1)
            for call in calls]
    return rows[:count]


async def _wait_delivered(db: Database, tenant: str, count: int, timeout: float) -> None:
    """Until `count` of the tenant's deliveries are delivered: one indexed count per 50 ms (a
    list of the event ids in the query would cost this process more than the dispatcher)."""
    from sqlalchemy import func, select

    from yotel.db.models import WebhookDelivery
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with db.read() as session:
            done = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.tenant_id == tenant, WebhookDelivery.status == "delivered"))
        if (done or 0) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"not all {count} events delivered in {timeout} s")


async def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--receiver", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None and child.stdin is not None
    port = int(await child.stdout.readline())
    tenant = ""
    try:
        await migrate.upgrade(db)
        tenant = (await create_tenant(db, name="bench")).id
        box = SecretBox(SECRET)
        await WebhookService(db, box, True).create(
            tenant, EndpointCreate(url=f"http://127.0.0.1:{port}/hooks"))
        config = DispatcherConfig(
            node_id="bench", poll_s=0.1, min_gap_s=args.min_gap, batch=args.batch,
            max_in_flight=args.in_flight, max_per_endpoint=args.in_flight,
            sender=SenderConfig(allow_insecure=True, max_connections=args.in_flight))
        rows = _calls_rows(tenant, args.events)
        async with db.write() as session:
            session.add_all(rows)
        dispatcher = Dispatcher(db, box, config)
        unwatch = watch_outbox(db, dispatcher.nudge)
        cpu0, started = time.process_time(), time.time()
        task = asyncio.create_task(dispatcher.run())
        try:
            await _wait_delivered(db, tenant, len(rows), args.timeout)
            latency_rows = await _steady(db, tenant, args)
            await _wait_delivered(db, tenant, len(rows) + len(latency_rows), args.timeout)
        finally:
            unwatch()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await dispatcher.close(2.0)
        cpu = time.process_time() - cpu0
    finally:
        async with db.write() as session:  # leave a shared database as it was
            await session.execute(delete(Tenant).where(Tenant.id == tenant))
        await db.dispose()
        child.stdin.close()
        arrivals: dict[str, float] = json.loads(await child.stdout.read())
        await child.wait()
    burst = [arrivals[row.id] for row in rows]
    lat = sorted((arrivals[row.id] - row.created_at.timestamp()) * 1000 for row in latency_rows)
    return {"backend": db.backend, "events": len(rows),
            "events_per_s": round(len(rows) / (max(burst) - started), 1),
            "latency_events": len(lat), "rate_per_s": args.rate,
            "p50_ms": round(statistics.median(lat), 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
            "max_ms": round(lat[-1], 1), "cpu_s": round(cpu, 2)}


async def _steady(db: Database, tenant: str, args: argparse.Namespace) -> list[OutboxEvent]:
    """Events one per transaction at `rate`/s, as live calls write them (six per call)."""
    rows = _calls_rows(tenant, args.latency_events)
    start = time.monotonic()
    for index, row in enumerate(rows):
        delay = start + index / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        fresh = _row(tenant, str(row.call_id), row.type, row.sequence)
        rows[index] = fresh
        async with db.write() as session:
            session.add(fresh)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--latency-events", type=int, default=600)
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase events/s")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--min-gap", type=float, default=0.02)  # YOTEL_WEBHOOK_MIN_PASS_GAP_S
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--verbose", action="store_true", help="log failed attempts")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.verbose:
        logging.basicConfig(level=logging.WARNING)
        logging.getLogger("yotel.webhooks").setLevel(logging.INFO)
    try:  # as `yotel serve` runs
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    if args.receiver:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(receiver())
        return
    with tempfile.TemporaryDirectory() as workdir, \
            asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(bench(args, Path(workdir)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
