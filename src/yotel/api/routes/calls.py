"""Call records (`/api/v1/calls`), AI sessions (`/api/v1/ai-sessions/{call_id}`), both scope
`calls:read`, and scheduled callbacks (`/api/v1/callbacks`, `campaigns:*`). Read-only here:
the call layer writes them (originate, `POST /calls`, joins when it lands)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from yotel.api.deps import RuntimeDep, require_scope
from yotel.api.pagination import Page, PageRequest, page_request
from yotel.api.resources import ResourcesDep
from yotel.api.routes.listing import keyset, page_of
from yotel.callbacks.service import CallbackFilter, CallbackOut
from yotel.callbacks.service import Status as CallbackStatus
from yotel.calls.records import (
    AiSessionOut,
    CallFilter,
    CallOut,
    CallState,
    Direction,
    Outcome,
)
from yotel.domain.errors import PermissionDenied, ValidationError
from yotel.tenancy.principal import Principal

router = APIRouter(tags=["calls"])
CallReader = Annotated[Principal, Depends(require_scope("calls:read"))]
CampaignReader = Annotated[Principal, Depends(require_scope("campaigns:read"))]
CampaignWriter = Annotated[Principal, Depends(require_scope("campaigns:write"))]
Paging = Annotated[PageRequest, Depends(page_request)]


async def call_filter(campaign_id: Annotated[str | None, Query(max_length=64)] = None,
                state: CallState | None = None, direction: Direction | None = None,
                outcome: Outcome | None = None,
                since: Annotated[str | None, Query(
                    description="started at or after (RFC 3339, with offset)",
                    json_schema_extra={"format": "date-time"})] = None,
                until: Annotated[str | None, Query(
                    description="started before (RFC 3339, with offset)",
                    json_schema_extra={"format": "date-time"})] = None,
                ) -> CallFilter:
    return CallFilter(campaign_id=campaign_id, state=state, direction=direction,
                      outcome=outcome, since=_instant("since", since),
                      until=_instant("until", until))


# RFC 3339 §5.6 `date-time` (what `format: date-time` means in /openapi.json): a full date, `T`,
# a full time with seconds, an offset. Read as a string: a datetime parameter would also take
# a Unix timestamp such as `0.5`, which the schema does not allow.
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:([0-9]{2})"
                        r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})", re.ASCII)


def _instant(name: str, text: str | None) -> datetime | None:
    """`text` as an aware UTC datetime (clamped to the representable range), or 400."""
    if text is None:
        return None
    match = _DATE_TIME.fullmatch(text)
    try:
        if match is None:
            raise ValueError(name)
        # A leap second (`:60`, RFC 3339 §5.7) reads as the second before it; fractions
        # beyond microseconds are cut.
        if match[1] == "60":
            text = text[:match.start(1)] + "59" + text[match.end(1):]
        value = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValidationError(f"{name}: must be an RFC 3339 date-time with an offset", details=[
            {"loc": ["query", name], "msg": "not an RFC 3339 date-time", "type": "datetime"}],
        ) from None
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        return datetime.min.replace(tzinfo=UTC) if value.year == 1 else \
            datetime.max.replace(tzinfo=UTC)


@router.get("/calls", response_model=Page[CallOut], response_model_by_alias=True)
async def list_calls(principal: CallReader, res: ResourcesDep, page: Paging,
                     where: Annotated[CallFilter, Depends(call_filter)]) -> Page[CallOut]:
    rows = await res.calls.list(principal.tenant_id, limit=page.limit + 1,
                                after=keyset(page.cursor), where=where)
    return page_of(rows, page.limit)


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: str, principal: CallReader, res: ResourcesDep) -> CallOut:
    return await res.calls.get(principal.tenant_id, call_id)


async def session_reader(call_id: str, request: Request, runtime: RuntimeDep) -> Principal:
    """A tenant key with `calls:read`, or the call's own callback token (issue: the AI reads
    its session with the token from its metadata frame); another call's token is 403."""
    principal = await runtime.authenticator.authenticate(request.headers.get("authorization"))
    if principal.call_id is not None:
        if principal.call_id != call_id:
            raise PermissionDenied("this callback token belongs to another call")
        return principal
    principal.require("calls:read")
    return principal


@router.get("/ai-sessions/{call_id}", response_model=AiSessionOut)
async def get_ai_session(call_id: str,
                         principal: Annotated[Principal, Depends(session_reader)],
                         res: ResourcesDep) -> AiSessionOut:
    return await res.calls.ai_session(principal.tenant_id, call_id)


@router.get("/callbacks", response_model=Page[CallbackOut], tags=["callbacks"])
async def list_callbacks(
        principal: CampaignReader, res: ResourcesDep, page: Paging,
        callback_status: Annotated[CallbackStatus | None, Query(alias="status")] = None,
        campaign_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[CallbackOut]:
    rows = await res.callbacks.list(
        principal.tenant_id, limit=page.limit + 1, after=keyset(page.cursor),
        where=CallbackFilter(status=callback_status, campaign_id=campaign_id))
    return page_of(rows, page.limit)


@router.get("/callbacks/{callback_id}", response_model=CallbackOut, tags=["callbacks"])
async def get_callback(callback_id: str, principal: CampaignReader,
                       res: ResourcesDep) -> CallbackOut:
    return await res.callbacks.get(principal.tenant_id, callback_id)


@router.delete("/callbacks/{callback_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response, tags=["callbacks"])
async def delete_callback(callback_id: str, principal: CampaignWriter,
                          res: ResourcesDep) -> Response:
    await res.callbacks.delete(principal.tenant_id, callback_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
