"""`yotel leads import` and `yotel dnd import` through the real command: a 100 000-row file on
the configured database, rejections by line, the progress bar on stderr, `--json` summary."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from yotel.campaigns.schemas import CampaignCreate
from yotel.campaigns.service import CampaignService
from yotel.cli.main import main
from yotel.db.engine import Database
from yotel.db.models import DndRegistryEntry, Lead
from yotel.dnd.service import DndService
from yotel.tenancy.tenants import create_tenant

ROWS = 100_000


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> None:
    for name in list(os.environ):
        if name.startswith("YOTEL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOTEL_DATABASE_URL", database_url)
    monkeypatch.setenv("YOTEL_DATA_DIR", str(tmp_path / "data"))


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, json.loads(out) if out else None, captured.err


async def _campaign(db: Database) -> tuple[str, str]:
    tenant = await create_tenant(db, name="import")
    campaign = await CampaignService(db).create(tenant.id, CampaignCreate())
    return tenant.id, campaign.id


@pytest.mark.slow
async def test_100k_leads_import_in_seconds(cli_env: None, capsys: pytest.CaptureFixture[str],
                                            db: Database, tmp_path: Path) -> None:
    _, campaign_id = await _campaign(db)
    path = tmp_path / "leads.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write("phone,name,timezone,plan\n")
        handle.writelines(f"+1415{i:07d},Lead {i},America/New_York,gold\n" for i in range(ROWS))
    started = time.monotonic()
    code, summary, err = await _run(capsys, "leads", "import", "--campaign", campaign_id,
                                    str(path), "--json")
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert (summary["rows"], summary["created"], summary["rejected"]) == (ROWS, ROWS, 0)
    assert "100000/100000" in err and "leads [" in err  # the progress bar, on stderr
    # Loose on purpose: a shared CI machine; the benchmark (bench/leads_import.py) measures it.
    # The "in seconds" promise is the embedded SQLite's (issue 8); PostgreSQL's server does its
    # share of the work in another process, so it only gets a bound against a pathology.
    assert elapsed < (60 if db.backend == "sqlite" else 180), elapsed
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(Lead).where(
            Lead.campaign_id == campaign_id))
        first = (await session.scalars(select(Lead).where(Lead.campaign_id == campaign_id)
                                       .order_by(Lead.created_at, Lead.id).limit(2))).all()
    assert count == ROWS
    assert [lead.phone for lead in first] == ["+14150000000", "+14150000001"]  # file order
    assert first[0].custom_fields == {"plan": "gold"} and first[0].status == "pending"
    code, again, _ = await _run(capsys, "leads", "import", "--campaign", campaign_id,
                                str(path), "--json")
    assert code == 0 and (again["created"], again["rejected"]) == (0, ROWS)
    assert again["rejections"][0] == {"line": 2, "reason": "duplicate"}
    assert len(again["rejections"]) == 100  # the first ones; the count covers all


async def test_rejections_name_their_line(cli_env: None, capsys: pytest.CaptureFixture[str],
                                          db: Database, tmp_path: Path) -> None:
    _, campaign_id = await _campaign(db)
    path = tmp_path / "few.csv"
    path.write_text("\ufeffPhone,Name,TimeZone,Plan,Notes\n"
                    "+14155550100,Ann,Europe/Paris,gold,\n"
                    "\n"
                    "4155550101,Bob,,silver,x\n"
                    "+14155550100,Ann again,,,\n"
                    "+14155550102,,Mars/Base,,\n"
                    f"+14155550103,{'x' * 300},,,\n"
                    "+14155550104,\"Smith, Jo\",,,\"a, b\"\n", encoding="utf-8")
    code, summary, _ = await _run(capsys, "leads", "import", "--campaign", campaign_id,
                                  str(path), "--json")
    assert code == 0
    assert (summary["rows"], summary["created"], summary["rejected"]) == (6, 2, 4)
    assert summary["rejections"] == [
        {"line": 4, "reason": "bad_phone"}, {"line": 5, "reason": "duplicate"},
        {"line": 6, "reason": "bad_timezone"}, {"line": 7, "reason": "invalid"}]
    async with db.read() as session:
        leads = (await session.scalars(select(Lead).where(Lead.campaign_id == campaign_id)
                                       .order_by(Lead.created_at, Lead.id))).all()
    assert [(x.phone, x.name, x.timezone, x.custom_fields) for x in leads] == [
        ("+14155550100", "Ann", "Europe/Paris", {"plan": "gold"}),
        ("+14155550104", "Smith, Jo", None, {"notes": "a, b"})]


async def test_import_errors(cli_env: None, capsys: pytest.CaptureFixture[str], db: Database,
                             tmp_path: Path) -> None:
    _, campaign_id = await _campaign(db)
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("+14155550100,Ann\n", encoding="utf-8")
    code, out, _ = await _run(capsys, "leads", "import", "--campaign", campaign_id,
                              str(headerless), "--json")
    assert code == 1 and out["error"]["type"] == "validation_error"
    assert "phone" in out["error"]["message"]
    code, out, _ = await _run(capsys, "leads", "import", "--campaign",
                              "00000000-0000-4000-8000-000000000000", str(headerless),
                              "--json")
    assert code == 1 and out["error"]["type"] == "not_found"
    code, out, _ = await _run(capsys, "leads", "import", "--campaign", campaign_id,
                              str(tmp_path / "missing.csv"), "--json")
    assert code == 1 and out["error"]["type"] == "validation_error"


async def test_dnd_import_fills_the_platform_registry(
        cli_env: None, capsys: pytest.CaptureFixture[str], db: Database,
        tmp_path: Path) -> None:
    suffix = str(time.time_ns())[-7:]
    numbers = [f"+1650{suffix}{i}" for i in range(3)]
    path = tmp_path / "dnd.csv"
    path.write_text("phone\n# opted out in 2026\n" + "\n".join(
        [numbers[0], numbers[1], "not-a-number", numbers[0], "", numbers[2]]) + "\n",
        encoding="utf-8")
    code, summary, _ = await _run(capsys, "dnd", "import", str(path), "--json")
    assert code == 0
    assert (summary["created"], summary["rejected"]) == (3, 2)
    assert summary["rejections"] == [{"line": 5, "reason": "bad_phone"},
                                     {"line": 6, "reason": "duplicate"}]
    async with db.read() as session:
        stored = set((await session.scalars(select(DndRegistryEntry.phone).where(
            DndRegistryEntry.phone.in_(numbers)))).all())
    assert stored == set(numbers)
    tenant_id, _ = await _campaign(db)
    service = DndService(db)
    assert await service.is_blocked(tenant_id, numbers[1])  # any tenant: platform-wide
    assert not await service.is_blocked(tenant_id, "+16509999999")
    await service.add(tenant_id, ["+16509999999"])
    assert await service.is_blocked(tenant_id, "+16509999999")
    other, _ = await _campaign(db)
    assert not await service.is_blocked(other, "+16509999999")  # the tenant's own list
