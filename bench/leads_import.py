"""`yotel leads import` throughput on the embedded SQLite (or any `--database-url`).

    .venv/bin/python bench/leads_import.py --rows 100000

Writes a CSV of `rows` leads (phone, name, timezone and two custom columns, 1 % malformed and
1 % repeated numbers, so the rejection paths run too) into a temporary directory, creates a
tenant and a campaign in a fresh database, and runs the import command's code path (CSV parse,
screening, per-chunk duplicate lookups and bulk inserts) end to end. The last line printed is
one JSON object: rows, created, rejected, seconds, rows_per_s, and the process's CPU time
(`cpu_s`, all threads: wall time on a shared machine says more about the neighbours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from yotel.campaigns.schemas import CampaignCreate
from yotel.campaigns.service import CampaignService
from yotel.cli import imports
from yotel.db import migrate
from yotel.db.engine import Database
from yotel.settings import Settings
from yotel.tenancy.tenants import create_tenant


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("phone,name,timezone,plan,account\n")
        for i in range(rows):
            if i % 100 == 7:
                phone = f"0{i}"  # malformed
            elif i % 100 == 9:
                phone = f"+1415{i - 2:07d}"  # repeats the row two before
            else:
                phone = f"+1415{i:07d}"
            handle.write(f"{phone},Lead {i},America/New_York,gold,A-{i}\n")


async def run(rows: int, database_url: str | None, workdir: Path) -> dict[str, Any]:
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    db = Database(url)
    try:
        await migrate.upgrade(db)
        tenant = await create_tenant(db, name="bench")
        campaign = await CampaignService(db).create(tenant.id, CampaignCreate(name="bench"))
    finally:
        await db.dispose()
    csv_path = workdir / "leads.csv"
    write_csv(csv_path, rows)
    settings = Settings(_env_file=None, database_url=url,  # type: ignore[call-arg]
                        secret_key=SecretStr("bench"), data_dir=workdir)
    args = argparse.Namespace(campaign=campaign.id, file=str(csv_path), json=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    summary = await imports.leads_import(args, settings)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {"rows": rows, "created": summary["created"], "rejected": summary["rejected"],
            "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds),
            "cpu_s": round(cpu, 3), "rows_per_cpu_s": round(rows / cpu),
            "backend": url.split(":", 1)[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None,
                        help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args.rows, args.database_url, Path(tmp)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
