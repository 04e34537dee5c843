"""Leads from a CSV file (`yotel leads import`): columns `phone`, `name`, `timezone`; any other
column goes into `custom_fields` (empty cells left out). Pure: parses text, no I/O."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from yotel.domain.errors import ValidationError
from yotel.leads.schemas import MAX_CUSTOM_FIELDS, MAX_NAME, MAX_PHONE, MAX_ZONE, LeadIn

KNOWN = ("phone", "name", "timezone")


@dataclass(frozen=True, slots=True)
class CsvLead:
    line: int  # 1-based line of the file (the header is line 1)
    lead: LeadIn | None  # None: the row is malformed (e.g. a 300-character name)


def read_leads(lines: Iterable[str]) -> Iterator[CsvLead]:
    """One `CsvLead` per data row; ValidationError when the header has no `phone` column."""
    reader = csv.reader(lines)
    header = [name.strip().lower() for name in next(reader, [])]
    if "phone" not in header:
        raise ValidationError("the CSV file needs a header row with a 'phone' column")
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        yield CsvLead(reader.line_num, _lead(header, row))


def _lead(header: list[str], row: list[str]) -> LeadIn | None:
    cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
    custom = {k: v for k, v in cells.items() if k not in KNOWN and k and v}
    phone, name = cells.get("phone", ""), cells.get("name") or None
    timezone = cells.get("timezone") or None
    # Every cell is a string, so LeadIn's limits are checked here directly: full model
    # validation costs ~10x more per row, which 100 000-row files notice.
    if (len(phone) > MAX_PHONE or (name is not None and len(name) > MAX_NAME)
            or (timezone is not None and len(timezone) > MAX_ZONE)
            or len(custom) > MAX_CUSTOM_FIELDS or "\x00" in "".join(row)):
        return None
    return LeadIn.model_construct(phone=phone, name=name, timezone=timezone,
                                  custom_fields=custom)


def read_numbers(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """`(line, number)` of a DND file: one number per line (its first CSV column); blank lines,
    `#` comments and a `phone` header are skipped."""
    for line_no, row in enumerate(csv.reader(lines), start=1):
        cell = row[0].strip() if row else ""
        if not cell or cell.startswith("#") or (line_no == 1 and cell.lower() == "phone"):
            continue
        yield line_no, cell
