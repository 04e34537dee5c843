"""`request_supervisor` (page 003 group 2): the AI asks for a human supervisor. The escalation is
written with its first `ai_session.escalated` (no supervisor yet) and pushed to the tenant's
supervisor streams; the claim (`POST /escalations/{id}/claim`) is the second event, and the AI
hears of it as an `escalation_claimed` event frame (`yotel.escalations.service`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yotel.control.bodies import RequestSupervisor
from yotel.escalations import EscalationService, hub_for

if TYPE_CHECKING:  # verbs.py imports this module to register the verb
    from yotel.control.verbs import VerbContext


async def request_supervisor(ctx: VerbContext, verb: RequestSupervisor) -> dict[str, Any]:
    service = EscalationService(ctx.db, hub_for(ctx.db), ctx.calls)
    escalation = await service.create(ctx.call.tenant_id, ctx.call.id, reason=verb.reason,
                                      urgency=verb.urgency, live=ctx.live)
    return {"escalation_id": escalation.id, "status": escalation.status,
            "urgency": escalation.urgency}
