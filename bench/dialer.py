"""Dialer benchmark: call setups per second a node's dialer sustains against a sipp UAS that
answers and hangs up, and the p99 time from a lead's claim to its INVITE on the wire.

    python bench/dialer.py --seconds 20 [--cps 150] [--hold-ms 500] [--database-url URL]
                           [--profile FILE]

One process is the node (what `yotel serve` runs: database, media engine, call layer, dialer;
uvloop), with a campaign of enough leads paced at `--cps`; sipp (C) is the called party, the
lean echo AI of bench/media_roles.py (its own process) the tenant's voice AI, so every call
does the whole product path: agent resolution and lease, call row and events, a callback token,
the INVITE, the audio fork's WebSocket at ringing, a stereo recording from the answer, the end
and the lead's settlement. A warm-up (`--warmup`, 3 s) is not measured. The last line printed is
one JSON object: `cps` (INVITEs sent per second over the window), `answered_cps`, `failures`
(calls of the run, warm-up included, that did not end `caller_hangup` once the campaign
is paused and its calls have ended, plus originates that raised), the claim-to-INVITE
p50/p99, the node's CPU share (1.0 = one core), and the garbage collector's full collections
and its seconds per generation in the window (with its longest pause since start).
`--profile FILE` writes cProfile stats of the window (`python -m pstats FILE`) and prints the
top functions by own time to stderr;
`--stages` adds `stages_ms`: p50/p99 wall time of each database step of a call (the dialer's
claim, DND check and settle; the call layer's agent resolution, token, row writes), which is
where a call's setup time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from pydantic import SecretStr
from sqlalchemy import select

from media import Role  # bench/media.py (the script's folder is on sys.path)
from yotel.aio.gc_pauses import watch_gc
from yotel.campaigns.schemas import CampaignCreate, Pacing, RetryPolicy
from yotel.campaigns.service import CampaignService
from yotel.db import migrate
from yotel.db.models import Call
from yotel.dialer import claims
from yotel.leads.schemas import LeadIn
from yotel.leads.service import LeadService
from yotel.node import NodeServices, dialer_component, settle_heap
from yotel.settings import Settings
from yotel.tenancy.tenants import create_tenant
from yotel.testing.sipp import start_sipp
from yotel.voice_agents.schemas import VoiceAgentCreate

STAGES: dict[str, list[float]] = {}


def time_stages() -> None:
    """Wrap each database step of a call with a wall-clock timer (measurement only)."""
    import yotel.calls.service as service
    from yotel.calls.history import CallHistory
    from yotel.calls.tokens import CallbackTokens

    steps: list[tuple[Any, str, str]] = [
        (claims, "claim_leads", "dialer.claim"), (claims, "blocked_numbers", "dialer.dnd"),
        (claims, "settle", "dialer.settle"), (service, "resolve_voice_agent", "calls.resolve"),
        (CallbackTokens, "mint", "calls.token"), (CallHistory, "started", "calls.row"),
        (CallHistory, "ringing", "calls.ringing"), (CallHistory, "answered", "calls.answered"),
        (CallHistory, "ended", "calls.ended"), (service.CallService, "originate",
                                                "calls.originate")]
    for owner, name, label in steps:
        setattr(owner, name, _timed(getattr(owner, name), STAGES.setdefault(label, [])))


def _timed(step: Any, samples: list[float]) -> Any:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            return await step(*args, **kwargs)
        finally:
            samples.append(time.monotonic() - start)
    return timed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settings_for(args: argparse.Namespace, tmp: Path, trunk_port: int) -> Settings:
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    return Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, secret_key=SecretStr("bench-dialer-secret"),
        data_dir=tmp, recordings_dir=tmp / "recordings", allow_insecure_urls=True,
        api_port=0, sip_port=0, rtp_port_min=20000, rtp_port_max=39998,
        outbound_trunk=f"sip:127.0.0.1:{trunk_port}", drain_timeout_s=30.0,
        dialer_batch=args.batch, dialer_max_in_flight=args.max_in_flight)


async def campaign(node: NodeServices, args: argparse.Namespace, ai_url: str) -> str:
    tenant = await create_tenant(node.db, name="bench")
    agent = await node.voice_agents.create(tenant.id, VoiceAgentCreate(
        name="bench", ws_url=ai_url, max_concurrent=10_000))
    campaigns = CampaignService(node.db)
    created = await campaigns.create(tenant.id, CampaignCreate(
        voice_agent_id=agent.id, pacing=Pacing(calls_per_second=args.cps,
                                                max_concurrent_calls=10_000),
        retry=RetryPolicy(max_attempts=1)))
    total = int(args.cps * (args.seconds + args.warmup) * 1.2) + 100
    leads = LeadService(node.db)
    for start in range(0, total, 10_000):
        await leads.add(tenant.id, created.id, [
            LeadIn(phone=f"+1555{i:07d}") for i in range(start, min(total, start + 10_000))])
    await campaigns.transition(tenant.id, created.id, "start")
    return created.id


async def run(args: argparse.Namespace, ai_url: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="yotel-bench-dialer-"))
    sipp = await start_sipp(scenario="uas_answer_bye", calls=10_000_000,
                            timeout_s=args.seconds + args.warmup + 120,
                            extra=["-d", str(args.hold_ms), "-max_socket", "10000"])
    settings = settings_for(args, tmp, sipp.port)
    node = NodeServices(settings)
    try:
        await migrate.upgrade(node.db)
        await node.start()
        campaign_id = await campaign(node, args, ai_url)
        dialer = dialer_component(settings, node)
        settle_heap()  # as `yotel serve` does before it serves
        await dialer.start()
        stats = dialer.dialer.stats
        await asyncio.sleep(args.warmup)
        gc_before = watch_gc().copy()
        placed0, cpu0, t0 = stats.placed, cpu_seconds(), time.monotonic()
        stats.claim_to_invite_s.clear()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        await asyncio.sleep(args.seconds)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
        gc_now = watch_gc()
        placed = stats.placed - placed0
        samples = sorted(stats.claim_to_invite_s)
        await claims.pause(node.db, campaign_id, datetime.now(UTC))
        await dialer.stop()  # claims nothing more; waits for its calls to end and settles them
        outcomes = await outcomes_of(node, campaign_id)
    finally:
        await node.stop()
        await sipp.stop()
    if profiler:
        report_profile(profiler, args.profile)
    failures = sum(n for outcome, n in outcomes.items() if outcome != "caller_hangup")
    return {
        "seconds": round(elapsed, 2), "target_cps": args.cps, "hold_ms": args.hold_ms,
        "cps": round(placed / elapsed, 1),
        "answered_cps": round(outcomes.get("caller_hangup", 0) / (elapsed + args.warmup), 1),
        "failures": failures + stats.failed_to_start, "outcomes": dict(outcomes),
        "claim_to_invite_p50_ms": pct_ms(samples, 0.50),
        "claim_to_invite_p99_ms": pct_ms(samples, 0.99),
        "node_cpu": round(cpu / elapsed, 2), "database": settings.database().url.split(":")[0],
        "gc_full_collections": gc_now.collections[2] - gc_before.collections[2],
        "gc_seconds_by_generation": [round(now - before, 2) for now, before in zip(
            gc_now.seconds, gc_before.seconds, strict=True)],
        "gc_max_pause_ms_since_start": round(1000 * max(gc_now.max_s), 1),
    } | ({"stages_ms": {label: [pct_ms(sorted(v), 0.5), pct_ms(sorted(v), 0.99)]
                        for label, v in STAGES.items() if v}} if STAGES else {})


async def outcomes_of(node: NodeServices, campaign_id: str) -> Counter[str]:
    async with node.db.read() as session:
        rows = (await session.scalars(select(Call.outcome).where(
            Call.campaign_id == campaign_id))).all()
    return Counter(outcome or "not_ended" for outcome in rows)


def pct_ms(samples: list[float], q: float) -> float | None:
    if not samples:
        return None
    return round(1000 * samples[min(len(samples) - 1, int(q * len(samples)))], 1)


def report_profile(profiler: cProfile.Profile, path: str) -> None:
    profiler.dump_stats(path)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    print(text.getvalue(), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--cps", type=float, default=150.0, help="the campaign's pacing")
    parser.add_argument("--hold-ms", type=int, default=500,
                        help="how long sipp holds each call before its BYE")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--profile", metavar="FILE", default=None)
    parser.add_argument("--stages", action="store_true",
                        help="time each database step of a call (stages_ms: [p50, p99])")
    args = parser.parse_args()
    if args.stages:
        time_stages()
    ai = Role("ai")
    try:
        result = uvloop.run(run(args, str(ai.hello["url"])))
    finally:
        ai.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
