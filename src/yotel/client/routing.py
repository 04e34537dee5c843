"""`client.dnd`, `client.numbers`, `client.flows`, `client.agents`, `client.agent_queues`
(PRODUCT.md §4): the tenant's do-not-disturb list, DIDs, inbound flows, human agents and
queues. One generic CRUD resource serves the four collections that have the five verbs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, TypedDict, TypeVar

from yotel.client.campaigns import LeadsAdded
from yotel.client.http import Call
from yotel.client.models import Model, Page
from yotel.client.resource import AsyncResource, Collection, SyncResource

M = TypeVar("M", bound=Model)


class DndEntry(Model):
    id: str
    phone: str
    created_at: datetime


class Number(Model):
    id: str
    e164: str
    flow_id: str | None = None
    created_at: datetime
    updated_at: datetime


class FlowNode(Model):
    id: str
    type: str
    data: dict[str, Any] = {}


class Flow(Model):
    id: str
    name: str
    entry: str
    nodes: list[FlowNode]
    edges: list[dict[str, Any]]  # {"from", "to", "on"}
    created_at: datetime
    updated_at: datetime


class Agent(Model):
    id: str
    name: str
    role: Literal["agent", "supervisor"]
    contact: str
    on_duty: bool
    created_at: datetime
    updated_at: datetime


class AgentQueue(Model):
    id: str
    name: str
    agent_ids: list[str]
    strategy: Literal["ring_all", "round_robin"]
    created_at: datetime
    updated_at: datetime


class _NumberRequired(TypedDict):
    e164: str


class NumberCreate(_NumberRequired, total=False):
    flow_id: str | None


class NumberUpdate(TypedDict, total=False):
    flow_id: str | None


class NodeParam(TypedDict, total=False):
    id: str
    type: str
    data: dict[str, Any]


# `edges` items are `{"from": ..., "to": ..., "on": ...}` ("from" is a Python keyword, so a
# plain dict rather than a TypedDict).
class FlowUpdate(TypedDict, total=False):
    name: str
    entry: str
    nodes: Sequence[NodeParam | dict[str, Any]]
    edges: Sequence[dict[str, Any]]


class _FlowRequired(TypedDict):
    name: str
    entry: str
    nodes: Sequence[NodeParam | dict[str, Any]]


class FlowCreate(_FlowRequired, total=False):
    edges: Sequence[dict[str, Any]]


class AgentUpdate(TypedDict, total=False):
    name: str
    role: Literal["agent", "supervisor"]
    contact: str
    on_duty: bool


class _AgentRequired(TypedDict):
    name: str
    contact: str


class AgentCreate(_AgentRequired, total=False):
    role: Literal["agent", "supervisor"]
    on_duty: bool


class QueueUpdate(TypedDict, total=False):
    name: str
    agent_ids: Sequence[str]
    strategy: Literal["ring_all", "round_robin"]


class _QueueRequired(TypedDict):
    name: str


class QueueCreate(_QueueRequired, total=False):
    agent_ids: Sequence[str]
    strategy: Literal["ring_all", "round_robin"]


class Crud(SyncResource, Generic[M]):
    """create / get / list / iter / update / delete of one collection. Keyword fields are
    checked at run time against the collection's TypedDicts above (`NumberCreate`, ...): an
    unknown or missing field is a `TypeError` before any request (`resource.fields_of`)."""

    collection: Collection[M]

    def create(self, **fields: Any) -> M:
        return self._http.run(self.collection.create(fields))

    def get(self, item_id: str) -> M:
        return self._http.run(self.collection.get(item_id))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[M]:
        return self._http.run(self.collection.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[M]:
        return self._http.paginate(lambda cursor: self.collection.page(limit, cursor))

    def update(self, item_id: str, **fields: Any) -> M:
        return self._http.run(self.collection.update(item_id, fields))

    def delete(self, item_id: str) -> None:
        self._http.run(self.collection.delete(item_id))


class AsyncCrud(AsyncResource, Generic[M]):
    collection: Collection[M]

    async def create(self, **fields: Any) -> M:
        return await self._http.run(self.collection.create(fields))

    async def get(self, item_id: str) -> M:
        return await self._http.run(self.collection.get(item_id))

    async def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[M]:
        return await self._http.run(self.collection.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[M]:
        return self._http.paginate(lambda cursor: self.collection.page(limit, cursor))

    async def update(self, item_id: str, **fields: Any) -> M:
        return await self._http.run(self.collection.update(item_id, fields))

    async def delete(self, item_id: str) -> None:
        await self._http.run(self.collection.delete(item_id))


_NUMBERS = Collection("/numbers", Number, NumberCreate, NumberUpdate)
_FLOWS = Collection("/flows", Flow, FlowCreate, FlowUpdate)
_AGENTS = Collection("/agents", Agent, AgentCreate, AgentUpdate)
_QUEUES = Collection("/agent-queues", AgentQueue, QueueCreate, QueueUpdate)
_DND = Collection("/dnd", DndEntry)


class Numbers(Crud[Number]):
    collection = _NUMBERS


class AsyncNumbers(AsyncCrud[Number]):
    collection = _NUMBERS


class Flows(Crud[Flow]):
    """An invalid graph is a 400 `ValidationError`; `details[i]["node_id"]` names the node."""

    collection = _FLOWS


class AsyncFlows(AsyncCrud[Flow]):
    collection = _FLOWS


class Agents(Crud[Agent]):
    collection = _AGENTS


class AsyncAgents(AsyncCrud[Agent]):
    collection = _AGENTS


class AgentQueues(Crud[AgentQueue]):
    collection = _QUEUES


class AsyncAgentQueues(AsyncCrud[AgentQueue]):
    collection = _QUEUES


def _dnd_add(numbers: Sequence[str]) -> Call[LeadsAdded]:
    return Call("POST", "/dnd", LeadsAdded.model_validate, json={"numbers": list(numbers)})


class Dnd(SyncResource):
    """The tenant's do-not-disturb list. One entry is addressed by id or by the number."""

    def add(self, numbers: Sequence[str]) -> LeadsAdded:
        return self._http.run(_dnd_add(numbers))

    def get(self, id_or_number: str) -> DndEntry:
        return self._http.run(_DND.get(id_or_number))

    def list(self, *, limit: int | None = None, cursor: str | None = None) -> Page[DndEntry]:
        return self._http.run(_DND.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> Iterator[DndEntry]:
        return self._http.paginate(lambda cursor: _DND.page(limit, cursor))

    def delete(self, id_or_number: str) -> None:
        self._http.run(_DND.delete(id_or_number))


class AsyncDnd(AsyncResource):
    async def add(self, numbers: Sequence[str]) -> LeadsAdded:
        return await self._http.run(_dnd_add(numbers))

    async def get(self, id_or_number: str) -> DndEntry:
        return await self._http.run(_DND.get(id_or_number))

    async def list(self, *, limit: int | None = None,
                   cursor: str | None = None) -> Page[DndEntry]:
        return await self._http.run(_DND.page(limit, cursor))

    def iter(self, *, limit: int | None = None) -> AsyncIterator[DndEntry]:
        return self._http.paginate(lambda cursor: _DND.page(limit, cursor))

    async def delete(self, id_or_number: str) -> None:
        await self._http.run(_DND.delete(id_or_number))

