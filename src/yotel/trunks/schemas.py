"""A SIP trunk's fields as the API accepts them (PRODUCT.md §4). `password` is write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic.config import JsonDict

from yotel.domain.bodies import Closed, Name, Text
from yotel.domain.phone import CallerIdStr, HostStr

DEFAULT_SIP_PORT = 5060
Transport = Literal["udp"]
# Host and caller ID grammars are patterns `/openapi.json` states (`yotel.domain.phone`).
Host = HostStr
CallerId = CallerIdStr
Credential = Annotated[Text, Field(min_length=1, max_length=200)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


# RFC 3261 §22.4: a digest password needs a username; stated for `/openapi.json` as an if/then
# (a PATCH that would leave a password without a username is a 409: it depends on the row).
_PASSWORD_NEEDS_USERNAME: JsonDict = {
    "if": {"properties": {"password": {"type": "string"}}, "required": ["password"]},
    "then": {"properties": {"username": {"type": "string"}}, "required": ["username"]},
}


class TrunkCreate(Closed):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_PASSWORD_NEEDS_USERNAME)

    name: Name
    host: Host
    port: Port = DEFAULT_SIP_PORT
    transport: Transport = "udp"
    username: Credential | None = None
    password: Credential | None = None
    caller_id: CallerId | None = None


class TrunkUpdate(Closed):
    """PATCH: only the fields sent change; null clears `username`, `password`, `caller_id`."""

    name: Name = "-"
    host: Host = "-"
    port: Port = DEFAULT_SIP_PORT
    transport: Transport = "udp"
    username: Credential | None = None
    password: Credential | None = None
    caller_id: CallerId | None = None


class TrunkOut(BaseModel):
    id: str
    name: str
    host: str
    port: int
    transport: str
    username: str | None
    has_password: bool = Field(description="a digest password is set (it is never returned)")
    caller_id: str | None
    created_at: datetime
    updated_at: datetime
