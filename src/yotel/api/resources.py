"""The call-path resources' services (PRODUCT.md §4), built once in the app's lifespan and
reached by routes through `ResourcesDep`; `include_routers` mounts their routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from yotel.agents.service import AgentService, QueueService
from yotel.callbacks.service import CallbackService, callback_uses_agent
from yotel.calls.records import CallRecords
from yotel.campaigns.service import CampaignService, campaign_uses_agent
from yotel.db.engine import Database
from yotel.dnd.service import DndService
from yotel.domain.secretbox import SecretBox
from yotel.flows.service import FlowService, flow_uses_agent
from yotel.leads.service import LeadService
from yotel.numbers.service import NumberService
from yotel.trunks.service import TrunkService
from yotel.voice_agents.service import ReferenceCheck
from yotel.webhooks.service import WebhookService


@dataclass(frozen=True, slots=True)
class Resources:
    trunks: TrunkService
    campaigns: CampaignService
    leads: LeadService
    dnd: DndService
    numbers: NumberService
    flows: FlowService
    agents: AgentService
    queues: QueueService
    callbacks: CallbackService
    calls: CallRecords
    webhooks: WebhookService


def build_resources(db: Database, box: SecretBox, *, allow_insecure_urls: bool,
                    public_url: str) -> Resources:
    return Resources(
        trunks=TrunkService(db, box), campaigns=CampaignService(db), leads=LeadService(db),
        dnd=DndService(db), numbers=NumberService(db),
        flows=FlowService(db, allow_insecure_urls), agents=AgentService(db),
        queues=QueueService(db), callbacks=CallbackService(db),
        calls=CallRecords(db, public_url.rstrip("/")),
        webhooks=WebhookService(db, box, allow_insecure_urls))


def voice_agent_reference_checks() -> list[ReferenceCheck]:
    """What keeps a voice agent from being deleted (409), besides live calls and being the
    tenant default: a campaign, a flow node or a scheduled callback naming it."""
    return [campaign_uses_agent, flow_uses_agent, callback_uses_agent]


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


def include_routers(api: APIRouter) -> None:
    from yotel.api.routes import (  # the routes import ResourcesDep from here
        agent_queues,
        agents,
        calls,
        campaigns,
        dnd,
        flows,
        leads,
        live_calls,
        numbers,
        trunks,
        webhooks,
    )

    for module in (trunks, campaigns, leads, dnd, numbers, flows, agents, agent_queues,
                   calls, live_calls, webhooks):
        api.include_router(module.router)
