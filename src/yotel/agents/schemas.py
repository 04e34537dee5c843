"""Human agents and queues as the API accepts and returns them (PRODUCT.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from yotel.domain.bodies import Closed, Name
from yotel.domain.ids import UuidStr
from yotel.domain.phone import ContactStr

Role = Literal["agent", "supervisor"]
Strategy = Literal["ring_all", "round_robin"]
MAX_QUEUE_AGENTS = 200


# An E.164 number or a `sip:`/`sips:` URI, as the field's `pattern` (`yotel.domain.phone`).
Contact = ContactStr
# Ordered, no repeats (`uniqueItems`); an id naming no agent of the tenant is a 404.
AgentIds = Annotated[list[UuidStr], Field(max_length=MAX_QUEUE_AGENTS,
                                          json_schema_extra={"uniqueItems": True})]


class AgentCreate(Closed):
    name: Name
    role: Role = "agent"
    contact: Contact
    on_duty: StrictBool = True


class AgentUpdate(Closed):
    name: Name = "-"
    role: Role = "agent"
    contact: Contact = "-"
    on_duty: StrictBool = True


class AgentOut(BaseModel):
    id: str
    name: str
    role: str
    contact: str
    on_duty: bool
    created_at: datetime
    updated_at: datetime


class QueueCreate(Closed):
    name: Name
    agent_ids: AgentIds = Field(default_factory=list)
    strategy: Strategy = "ring_all"


class QueueUpdate(Closed):
    name: Name = "-"
    agent_ids: AgentIds = Field(default_factory=list)
    strategy: Strategy = "ring_all"


class QueueOut(BaseModel):
    id: str
    name: str
    agent_ids: list[str]
    strategy: str
    created_at: datetime
    updated_at: datetime
