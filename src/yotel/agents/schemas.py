"""Human agents and queues as the API accepts and returns them (PRODUCT.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictStr

from yotel.domain.bodies import Closed, Name, Text
from yotel.domain.phone import is_e164
from yotel.flows.nodes import check_sip_uri

Role = Literal["agent", "supervisor"]
Strategy = Literal["ring_all", "round_robin"]
MAX_QUEUE_AGENTS = 200


def _contact(value: str) -> str:
    if is_e164(value):
        return value
    if not value.lower().startswith(("sip:", "sips:")):
        raise ValueError("must be a SIP URI (sip:user@host) or an E.164 number")
    return check_sip_uri(value)


Contact = Annotated[Text, Field(min_length=1, max_length=512), AfterValidator(_contact)]
AgentIds = Annotated[list[Annotated[StrictStr, Field(max_length=64)]],
                     Field(max_length=MAX_QUEUE_AGENTS)]


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
