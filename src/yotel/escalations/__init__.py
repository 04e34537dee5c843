"""Supervisor escalations: the `request_supervisor` verb's rows, their claim, and the live push
to supervisors' streams (PRODUCT.md §4, §7; docs/api.md "Escalations")."""

from yotel.escalations.hub import Listener, SupervisorHub, hub_for
from yotel.escalations.schemas import ClaimBody, EscalationOut
from yotel.escalations.service import EscalationService

__all__ = ["ClaimBody", "EscalationOut", "EscalationService", "Listener", "SupervisorHub",
           "hub_for"]
