"""Transfers: ONE primitive, used by a flow's `transfer` node and by the Control API's
`transfer` verb (page 003: "Bridge the caller to an agent queue, an E.164 number, or a SIP URI.
The AI's leg drops; outcome ← transferred_*").

    result = await transfer(service, live, "agent_queue", "tier1", {"intent": "billing"})

Yotel is a B2BUA here (PRODUCT.md §8): it dials a new leg with no AI, and when that leg
answers, bridges it to the caller (`Call.bridge`), marks the transfer on the call's owner (the
AI session ends `transferred_<type>`, `ai_session.transferred` is written) and closes the AI's
fork with `stop` reason `transfer`. The stereo recording's right channel follows the bridged
party from then on. After that the two legs hang up together: whichever side ends, the other
gets a BYE (the caller's call then ends `transferred_<type>`).

Destinations:
- `e164`: dialled through the tenant's trunk (`CallService.dial_leg`);
- `sip_uri`: dialled as it is;
- `agent_queue`: the tenant's queue of that name (404 otherwise), over its on-duty agents'
  contacts (a SIP URI, or an E.164 number through the trunk). `ring_all` INVITEs every one at
  once: the first to answer wins, the others get CANCEL (or a BYE if their 200 crossed it).
  `round_robin` rings one at a time, starting at the queue's `rr_cursor` (advanced by one per
  transfer, so load spreads), and moves to the next on no answer, busy or failure.

When nobody answers, nothing changes: the caller stays with the AI (or the flow) and
`TransferFailed` (409 `conflict`, `details[].type` `transfer_failed`) says who was tried
and how each ended. A caller who
hangs up while the transfer rings ends it too: every leg still ringing is CANCELled. Legs are
never left behind: each is hung up with the caller's call, however that ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from sqlalchemy import select

from yotel.calls.live import LiveCall
from yotel.calls.service import CallService, LegNotAnswered
from yotel.db.models import Agent, AgentQueue, AgentQueueMember
from yotel.domain.errors import Conflict, NotFound, ValidationError
from yotel.domain.phone import is_e164
from yotel.flows.nodes import DestinationType, check_sip_uri
from yotel.media.call import Call
from yotel.media.errors import MediaError
from yotel.media.events import CallEvent

log = logging.getLogger(__name__)
DESTINATION_TYPES: tuple[str, ...] = get_args(DestinationType)
RING_TIMEOUT_S = 20.0  # per attempt: all agents at once (ring_all), or each one (round_robin)

# Calls with a transfer ringing now: a second transfer on one of them is a 409.
_ringing: weakref.WeakSet[LiveCall] = weakref.WeakSet()


class TransferFailed(Conflict):
    """Nobody answered (or every destination failed): the call goes on as before. A 409
    `conflict` (the documented type) whose `details[].type` is `transfer_failed`."""


@dataclass(frozen=True)
class Target:
    contact: str  # an E.164 number or a SIP URI
    agent_id: str | None = None


@dataclass(frozen=True)
class TransferResult:
    destination_type: str
    destination: str
    answered_by: str  # the contact that answered
    agent_id: str | None  # the queue's agent who answered (agent_queue only)
    leg_call_id: str  # the media call id of the new leg

    def as_dict(self) -> dict[str, Any]:
        return {"destination_type": self.destination_type, "destination": self.destination,
                "answered_by": self.answered_by, "agent_id": self.agent_id,
                "leg_call_id": self.leg_call_id}


async def transfer(service: CallService, live: LiveCall, destination_type: str,
                   destination: str, metadata: dict[str, Any] | None = None, *,
                   ring_timeout_s: float = RING_TIMEOUT_S) -> TransferResult:
    """Bridge `live`'s caller to `destination`; see the module docstring. Raises
    ValidationError (bad destination), NotFound (no such queue in the tenant), Conflict (the
    call is not answered, has ended, is in a conference, is already transferring or
    transferred, or the caller hung up while it rang) and TransferFailed (nobody answered)."""
    _check_can_transfer(live)
    _ringing.add(live)
    try:
        strategy, targets = await _targets(service, live.tenant_id, destination_type,
                                           destination)
        if strategy == "round_robin":
            target, leg = await _one_at_a_time(service, live, targets, ring_timeout_s)
        else:
            target, leg = await _first_answer(service, live, targets, ring_timeout_s)
    finally:
        _ringing.discard(live)
    await _join(live, leg, destination_type, destination, metadata or {})
    return TransferResult(destination_type, destination, target.contact, target.agent_id,
                          leg.id)


def _check_can_transfer(live: LiveCall) -> None:
    call = live.media
    if call.state == "ended":
        raise Conflict(f"call {live.id} has ended")
    if call.state != "answered":
        raise Conflict(f"call {live.id} is not answered yet; only an answered call is "
                       "transferred")
    if live in _ringing:
        raise Conflict(f"call {live.id} is already being transferred")
    if call.bridged is not None:
        raise Conflict(f"call {live.id} has already been transferred")
    if call.conference is not None or call.conference_host is not None:
        raise Conflict(f"call {live.id} is in a conference; add the party as a member")


# -- destinations ---------------------------------------------------------------------------
async def _targets(service: CallService, tenant_id: str, destination_type: str,
                   destination: str) -> tuple[str, list[Target]]:
    """(strategy, contacts to ring) for a destination."""
    if destination_type == "e164":
        if not is_e164(destination):
            raise ValidationError("destination must be E.164 ('+' then 8 to 15 digits)")
        return "single", [Target(destination)]
    if destination_type == "sip_uri":
        try:
            check_sip_uri(destination)
        except ValueError as exc:
            raise ValidationError(f"destination: {exc}") from exc
        return "single", [Target(destination)]
    if destination_type == "agent_queue":
        return await _queue(service, tenant_id, destination)
    raise ValidationError(f"destination_type must be one of {', '.join(DESTINATION_TYPES)}")


async def _queue(service: CallService, tenant_id: str, name: str) -> tuple[str, list[Target]]:
    """The queue's on-duty agents in ringing order; a round-robin queue's cursor advances by
    one under the row's lock, so two transfers at once start at different agents."""
    async with service.db.write() as session:
        queue = (await session.scalars(select(AgentQueue).where(
            AgentQueue.tenant_id == tenant_id, AgentQueue.name == name).with_for_update()
        )).first()
        if queue is None:
            raise NotFound(f"no agent queue named {name!r}")
        rows = list((await session.execute(
            select(Agent.id, Agent.contact, Agent.on_duty)
            .join(AgentQueueMember, AgentQueueMember.agent_id == Agent.id)
            .where(AgentQueueMember.queue_id == queue.id)
            .order_by(AgentQueueMember.position))).all())
        strategy = queue.strategy
        if strategy == "round_robin" and rows:
            start = queue.rr_cursor % len(rows)
            rows = rows[start:] + rows[:start]
            queue.rr_cursor = (start + 1) % len(rows)
    targets = [Target(contact, agent_id) for agent_id, contact, on_duty in rows if on_duty]
    if not targets:
        raise TransferFailed(f"agent queue {name!r} has no agent on duty; the call goes on "
                             "as before", details=[{"msg": "no agent on duty",
                                                    "type": "transfer_failed"}])
    return strategy, targets


# -- ringing ----------------------------------------------------------------------------------
async def _one_at_a_time(service: CallService, live: LiveCall, targets: Sequence[Target],
                         timeout_s: float) -> tuple[Target, Call]:
    failures: list[str] = []
    for target in targets:
        try:
            return await _first_answer(service, live, [target], timeout_s)
        except TransferFailed as exc:
            failures.append(exc.message)
    raise _nobody(failures)


async def _first_answer(service: CallService, live: LiveCall, targets: Sequence[Target],
                        timeout_s: float) -> tuple[Target, Call]:
    """Ring every target at once; the first answer wins. Every other leg is CANCELled (or, if
    it answered too, hung up) before this returns or raises, whatever happens."""
    dials: dict[asyncio.Future[Call], Target] = {
        asyncio.ensure_future(service.dial_leg(live.tenant_id, t.contact, timeout_s=timeout_s)):
        t for t in targets}
    caller_gone: asyncio.Future[Any] = asyncio.ensure_future(asyncio.shield(live.media.ended))
    pending = set(dials)
    won: tuple[Target, Call] | None = None
    failures: list[str] = []
    try:
        while pending and won is None:
            waits: set[asyncio.Future[Any]] = {caller_gone, *pending}
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if caller_gone in done:
                raise Conflict(f"call {live.id} ended while the transfer was ringing")
            for task in [t for t in pending if t in done]:
                pending.discard(task)
                won = _settle(task, dials[task], won, failures)
    finally:
        caller_gone.cancel()
        try:
            await _cancel_all(pending)
        except BaseException:
            won = None  # cancelled even now: the winner is abandoned too
            raise
        finally:
            if won is None:  # cancelled or failed: legs that answered meanwhile must go
                await _hang_up_answered(dials)
    if won is None:
        error = _only_error(dials)
        if isinstance(error, ValidationError):  # e.g. no trunk to dial a number: 400
            raise error
        raise _nobody(failures)
    return won


def _only_error(dials: dict[asyncio.Future[Call], Target]) -> BaseException | None:
    """The error of a single destination's dial (a bad destination is the caller's 400)."""
    if len(dials) != 1:
        return None
    task = next(iter(dials))
    return task.exception() if task.done() and not task.cancelled() else None


def _settle(task: asyncio.Future[Call], target: Target, won: tuple[Target, Call] | None,
            failures: list[str]) -> tuple[Target, Call] | None:
    """The winner so far; a second answer in the same instant is hung up at once."""
    error = task.exception()
    if error is None:
        leg = task.result()
        if won is None:
            return target, leg
        _spawn_hangup(leg, "another destination answered first")
        return won
    if isinstance(error, LegNotAnswered | ValidationError):
        failures.append(error.message)
    else:
        log.warning("transfer to %s failed: %r", target.contact, error)
        failures.append(f"{target.contact}: {error}")
    return won


async def _cancel_all(tasks: set[asyncio.Future[Call]]) -> None:
    """Cancel the dials still ringing and wait: each sends its CANCEL (`dial_leg`)."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)


async def _hang_up_answered(dials: dict[asyncio.Future[Call], Target]) -> None:
    for task in dials:
        if task.done() and not task.cancelled() and task.exception() is None:
            await task.result().hangup("hangup", reason="transfer abandoned")


def _nobody(failures: Sequence[str]) -> TransferFailed:
    tried = "; ".join(failures) or "no destination"
    return TransferFailed(f"nobody answered the transfer ({tried}); the call goes on as before",
                          details=[{"msg": failure, "type": "transfer_failed"}
                                   for failure in failures])


# -- joining --------------------------------------------------------------------------------
async def _join(live: LiveCall, leg: Call, destination_type: str, destination: str,
                metadata: dict[str, Any]) -> None:
    caller = live.media
    try:
        caller.bridge(leg)  # raises if the caller hung up while the leg answered
    except MediaError as exc:
        await leg.hangup("hangup", reason="the caller is gone")
        raise Conflict(f"call {live.id} ended before the transfer was bridged") from exc
    # Before the fork closes: its `fork_detached` then reads as a transfer (LiveCall).
    live.transferring(destination_type, destination, metadata)
    _hang_up_together(caller, leg)
    if caller.fork is not None:
        with contextlib.suppress(MediaError):  # the AI dropped by itself meanwhile
            await caller.detach_fork("transfer")  # the AI gets `stop` reason "transfer"


def _hang_up_together(caller: Call, leg: Call) -> None:
    """Whichever side ends (or is unbridged by its end), the other gets a BYE."""

    def on_leg(event: CallEvent) -> None:
        if event.kind == "ended" and caller.bridged in (leg, None):
            _spawn_hangup(caller, "the transfer target hung up")

    def on_caller(event: CallEvent) -> None:
        if event.kind == "ended":
            _spawn_hangup(leg, "the caller hung up")

    leg.subscribe(on_leg)
    caller.subscribe(on_caller)


def _spawn_hangup(call: Call, reason: str) -> None:
    if call.state == "ended":
        return
    with contextlib.suppress(RuntimeError):  # ScopeClosed: the call is ending by itself
        call.scope.spawn(call.hangup("hangup", reason=reason), name="hangup-peer")
