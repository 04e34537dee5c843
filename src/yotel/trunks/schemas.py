"""A SIP trunk's fields as the API accepts them (PRODUCT.md §4). `password` is write-only."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictInt

from yotel.domain.bodies import Closed, Name, Text
from yotel.domain.phone import CALLER_ID

DEFAULT_SIP_PORT = 5060
Transport = Literal["udp"]
# RFC 1123 §2.1 host names: dot-separated labels of letters, digits and inner hyphens.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must be a host name or an IP address")
    return value


def _caller_id(value: str) -> str:
    if CALLER_ID.fullmatch(value) is None:
        raise ValueError("must be digits, optionally after '+' (at most 20)")
    return value


Host = Annotated[Text, Field(min_length=1, max_length=255), AfterValidator(_host)]
CallerId = Annotated[Text, AfterValidator(_caller_id)]
Credential = Annotated[Text, Field(min_length=1, max_length=200)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class TrunkCreate(Closed):
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
