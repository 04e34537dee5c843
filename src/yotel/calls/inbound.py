"""Inbound calls: an INVITE to a number's DID runs that number's flow (PRODUCT.md §4, §8).

The media engine asks `screen(incoming)` before any RTP port or call exists (admission
control relies on that being cheap): the Request-URI user part, with or without `+`, names a
number of some tenant, or the INVITE gets 404. A number without a flow is refused the same way
(404: nothing answers it; `PATCH /numbers/{id}` with `flow_id: null` documents this). When the
database cannot be read the answer is 503 (RFC 3261 §21.5.4: try again later), never a hang.

Routes (number → tenant, flow graph) are cached for `ttl_s` (misses for `miss_ttl_s`), at most
`max_entries` of them, and concurrent look-ups of one DID share one query, so a flood of
INVITEs (to one DID or to unknown ones) costs the database one query per DID per TTL, not one
per INVITE. The price: a number or flow changed through the API is seen by new calls within
`ttl_s`.

`handle(call)` then owns the call (`CallService.take_inbound`: its row and `call.started`) and
runs the flow on it in the call owner's task scope, so the flow stops when the call ends.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import weakref
from dataclasses import dataclass

from sqlalchemy import select

from yotel.calls.live import CallContext
from yotel.calls.service import CallService
from yotel.db.models import Flow, Number
from yotel.domain.phone import did_digits, is_e164
from yotel.flows.executor import FlowGraph, FlowRun
from yotel.media.call import Call
from yotel.sip.address import SipUri
from yotel.sip.invite import IncomingInvite

log = logging.getLogger(__name__)
NOT_FOUND, UNAVAILABLE = 404, 503


@dataclass(frozen=True)
class Route:
    tenant_id: str
    number_id: str
    e164: str
    flow: FlowGraph | None


class RouteCache:
    """DID digits → Route (or None: no such number), with a TTL, a size bound (oldest entry
    evicted first) and one query in flight per DID."""

    def __init__(self, service: CallService, *, ttl_s: float = 5.0, miss_ttl_s: float = 2.0,
                 max_entries: int = 10_000) -> None:
        self._service = service
        self._ttl_s, self._miss_ttl_s, self._max = ttl_s, miss_ttl_s, max_entries
        self._entries: collections.OrderedDict[str, tuple[float, Route | None]] = \
            collections.OrderedDict()
        self._loading: dict[str, asyncio.Future[Route | None]] = {}
        self.queries = 0  # database look-ups made (for tests and stats)

    async def get(self, digits: str) -> Route | None:
        now = asyncio.get_running_loop().time()
        cached = self._entries.get(digits)
        if cached is not None and cached[0] > now:
            return cached[1]
        loading = self._loading.get(digits)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[Route | None] = asyncio.get_running_loop().create_future()
        self._loading[digits] = future
        try:
            route = await self._load(digits)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it; nobody else must log it
            raise
        else:
            future.set_result(route)
        finally:
            del self._loading[digits]
        self._store(digits, route, now)
        return route

    def _store(self, digits: str, route: Route | None, now: float) -> None:
        ttl = self._ttl_s if route is not None else self._miss_ttl_s
        self._entries[digits] = (now + ttl, route)
        self._entries.move_to_end(digits)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def _load(self, digits: str) -> Route | None:
        self.queries += 1
        async with self._service.db.read() as session:
            number = (await session.scalars(
                select(Number).where(Number.e164 == "+" + digits))).first()
            if number is None:
                return None
            flow = await session.get(Flow, number.flow_id) if number.flow_id else None
            graph = None if flow is None else FlowGraph.build(flow.id, flow.entry, flow.nodes,
                                                              flow.edges)
            return Route(number.tenant_id, number.id, number.e164, graph)


class InboundCalls:
    """The engine's inbound screen and handler (registered by `yotel.node`)."""

    def __init__(self, service: CallService, cache: RouteCache | None = None) -> None:
        self.service = service
        self.cache = cache or RouteCache(service)
        # The route the screen found, for the handler of the same INVITE (gone with it).
        self._routes: weakref.WeakKeyDictionary[IncomingInvite, Route] = \
            weakref.WeakKeyDictionary()

    async def screen(self, incoming: IncomingInvite) -> int | None:
        digits = did_of(incoming.to_uri)
        if digits is None:
            return NOT_FOUND
        try:
            route = await self.cache.get(digits)
        except Exception:
            log.exception("inbound: looking up DID %s failed", digits)
            return UNAVAILABLE
        if route is None or route.flow is None:
            return NOT_FOUND
        self._routes[incoming] = route
        return None

    async def handle(self, call: Call) -> None:
        route = self._routes.pop(call.incoming, None) if call.incoming is not None else None
        if route is None or route.flow is None:  # the screen was bypassed
            await call.reject(NOT_FOUND)
            return
        caller = SipUri.parse_any(call.from_uri)
        context = CallContext(route.tenant_id, "inbound", caller.number or str(caller),
                              route.e164, flow_id=route.flow.id, number_id=route.number_id)
        live = await self.service.take_inbound(call, context)
        live.scope.spawn(FlowRun(self.service, live, route.flow).run(), name="flow")


def did_of(uri: SipUri) -> str | None:
    """The DID digits a Request-URI names (`sip:+14155550100@…` or `sip:14155550100@…`), or
    None when its user part is no E.164 number."""
    user = uri.number
    if not user:
        return None
    digits = did_digits(user)
    return digits if is_e164("+" + digits) else None
