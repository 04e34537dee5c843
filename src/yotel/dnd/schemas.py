"""DND bodies: `POST /dnd {"numbers": [...]}` answers like a bulk lead add."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictStr

from yotel.domain.bodies import Closed
from yotel.leads.schemas import LeadsAdded

MAX_NUMBERS_PER_REQUEST = 10_000


class DndAdd(Closed):
    numbers: list[StrictStr] = Field(min_length=1, max_length=MAX_NUMBERS_PER_REQUEST)


DndAdded = LeadsAdded


class DndEntryOut(BaseModel):
    id: str
    phone: str
    created_at: datetime
