"""`yotel leads import --campaign ID FILE.csv` and `yotel dnd import FILE.csv` (PRODUCT.md §2,
§4): files go through the same services as the API (E.164, duplicates, time zones), in chunks
of `CHUNK_ROWS` rows, one write transaction each, so a running node's writers are never held
off for more than a chunk. Rejections are reported with their line in the file."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from yotel.campaigns.service import CampaignService
from yotel.cli.commands import prepare_database
from yotel.cli.progress import ProgressBar
from yotel.db.engine import Database
from yotel.dnd.service import DndService
from yotel.domain.errors import ValidationError
from yotel.leads.csvfile import CsvLead, read_leads, read_numbers
from yotel.leads.schemas import LeadIn
from yotel.leads.service import LeadService
from yotel.settings import Settings

CHUNK_ROWS = 5000
SHOWN_REJECTIONS = 100  # the summary lists the first ones; the count covers them all


async def leads_import(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    db = Database(settings.database().url)
    try:
        await prepare_database(db)
        tenant_id = await CampaignService(db).tenant_of(args.campaign)
        rows = await asyncio.to_thread(_read_csv, Path(args.file))
        return await _import_rows(LeadService(db), tenant_id, args.campaign, rows)
    finally:
        await db.dispose()


async def _import_rows(service: LeadService, tenant_id: str, campaign_id: str,
                       rows: list[CsvLead]) -> dict[str, Any]:
    started = time.perf_counter()
    created = 0
    rejections = [{"line": row.line, "reason": "invalid"} for row in rows if row.lead is None]
    valid = [row for row in rows if row.lead is not None]
    bar = ProgressBar(len(rows), label="leads")
    bar.advance(len(rows) - len(valid))
    for start in range(0, len(valid), CHUNK_ROWS):
        chunk = valid[start:start + CHUNK_ROWS]
        leads: list[LeadIn] = [row.lead for row in chunk if row.lead is not None]
        result = await service.add(tenant_id, campaign_id, leads)
        created += result.created
        rejections += [{"line": chunk[r.index].line, "reason": r.reason}
                       for r in result.rejected]
        bar.advance(len(chunk))
    bar.close()
    return _summary(len(rows), created, rejections, time.perf_counter() - started,
                    campaign_id=campaign_id)


async def dnd_import(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    numbers = await asyncio.to_thread(_read_numbers, Path(args.file))
    started = time.perf_counter()
    db = Database(settings.database().url)
    try:
        await prepare_database(db)
        result = await DndService(db).import_registry([number for _, number in numbers])
    finally:
        await db.dispose()
    rejections = [{"line": numbers[r.index][0], "reason": r.reason} for r in result.rejected]
    return _summary(len(numbers), result.created, rejections, time.perf_counter() - started)


def _summary(rows: int, created: int, rejections: list[dict[str, Any]], seconds: float,
             **extra: Any) -> dict[str, Any]:
    rejections.sort(key=lambda r: r["line"])
    return {**extra, "rows": rows, "created": created, "rejected": len(rejections),
            "rejections": rejections[:SHOWN_REJECTIONS], "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds) if seconds > 0 else rows}


def _read_csv(path: Path) -> list[CsvLead]:
    with _open(path) as handle:
        return list(read_leads(handle))


def _read_numbers(path: Path) -> list[tuple[int, str]]:
    with _open(path) as handle:
        return list(read_numbers(handle))


def _open(path: Path) -> Any:
    try:
        # utf-8-sig: spreadsheets often start a CSV with a byte-order mark.
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from exc
