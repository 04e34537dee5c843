"""A flow's body as the API accepts and returns it (PRODUCT.md §4). The node `type` and `data`
are checked by `flows.graph` (so the 400 can name the node), not here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from yotel.domain.bodies import Closed, Name, Text

NodeId = Annotated[Text, Field(min_length=1, max_length=100)]
MAX_NODES = 500


class NodeIn(Closed):
    id: NodeId
    type: Annotated[StrictStr, Field(max_length=64)]
    data: dict[StrictStr, Any] = Field(default_factory=dict)


class EdgeIn(Closed):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: NodeId = Field(alias="from")
    to: NodeId
    on: Annotated[Text, Field(max_length=64)] | None = None


class FlowCreate(Closed):
    name: Name
    entry: NodeId
    nodes: list[NodeIn] = Field(min_length=1, max_length=MAX_NODES)
    edges: list[EdgeIn] = Field(default_factory=list, max_length=4 * MAX_NODES)


class FlowUpdate(Closed):
    """PATCH: only the fields sent change; the resulting graph is validated whole."""

    name: Name = "-"
    entry: NodeId = "-"
    nodes: list[NodeIn] = Field(default_factory=list, min_length=1, max_length=MAX_NODES)
    edges: list[EdgeIn] = Field(default_factory=list, max_length=4 * MAX_NODES)


class FlowOut(BaseModel):
    id: str
    name: str
    entry: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
