"""What every resource is made of.

- A `Collection` builds the `Call`s of a REST collection (create/get/list/update/delete,
  `POST /{id}/{action}` answered with the item, and `command`: any `POST /{id}/{sub}` with its own
  body, answer, bearer and idempotency key, e.g. the Control API's verbs); it owns the path and
  the model, so a resource never spells a URL twice.
- Keyword fields are typed with a `TypedDict` (`**fields: Unpack[VoiceAgentCreate]`), so type
  checkers and editors see every documented field, and `fields_of` checks them at run time as a
  normal signature would: an unknown or missing field is a `TypeError`, not a server round trip.
  A field left out is not sent; `None` is sent as null (which clears a nullable field on PATCH).
- `SyncResource` / `AsyncResource` hold the request core; each method is one `run` of one `Call`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pydantic

from yotel.client.http import AsyncHttp, Call, SyncHttp
from yotel.client.models import Page

M = TypeVar("M", bound=pydantic.BaseModel)
R = TypeVar("R")


def fields_of(schema: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """`given` checked against the TypedDict `schema`, with models turned into JSON values."""
    if schema is None:
        raise TypeError("this request takes no fields")
    required: frozenset[str] = schema.__required_keys__
    known = required | schema.__optional_keys__
    unknown = sorted(set(given) - known)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    missing = sorted(required - set(given))
    if missing:
        raise TypeError(f"missing keyword argument(s): {', '.join(missing)}")
    return {name: _jsonable(value) for name, value in given.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    return value


def no_content(_: Any) -> None:
    return None


@dataclass(frozen=True)
class Collection(Generic[M]):
    """`path` (e.g. `/voice-agents`) holding `model`s; `create`/`update` name the TypedDicts
    of the accepted fields."""

    path: str
    model: type[M]
    create_fields: Any = None
    update_fields: Any = None

    def create(self, fields: Mapping[str, Any], *, idempotency_key: str | None = None,
               auto_idempotency_key: bool = False) -> Call[M]:
        return Call("POST", self.path, self.model.model_validate,
                    json=fields_of(self.create_fields, fields), idempotency_key=idempotency_key,
                    auto_idempotency_key=auto_idempotency_key)

    def get(self, item_id: str, *, bearer: str | None = None) -> Call[M]:
        return Call("GET", f"{self.path}/{item_id}", self.model.model_validate, bearer=bearer)

    def list(self, **params: Any) -> Call[Page[M]]:
        return Call("GET", self.path, self.parse_page, params=params)

    def page(self, limit: int | None, cursor: str | None) -> Call[Page[M]]:
        return self.list(limit=limit, cursor=cursor)

    def update(self, item_id: str, fields: Mapping[str, Any]) -> Call[M]:
        return Call("PATCH", f"{self.path}/{item_id}", self.model.model_validate,
                    json=fields_of(self.update_fields, fields))

    def delete(self, item_id: str) -> Call[None]:
        return Call("DELETE", f"{self.path}/{item_id}", no_content)

    def action(self, item_id: str, action: str, *, idempotency_key: str | None = None) -> Call[M]:
        """`POST /{id}/{action}` answered with the item (e.g. a campaign's `start`)."""
        return self.command(item_id, action, self.model.model_validate,
                            idempotency_key=idempotency_key)

    def command(self, item_id: str, sub: str, parse: Callable[[Any], R], *,
                json: dict[str, Any] | None = None, bearer: str | None = None,
                idempotency_key: str | None = None,
                auto_idempotency_key: bool = False) -> Call[R]:
        """`POST /{id}/{sub}` with `json`, read by `parse`. `bearer` replaces the client's key
        for this request (a call's `yt_cb_` callback token); with `auto_idempotency_key` the
        request gets a fresh UUID v4 `Idempotency-Key` unless `idempotency_key` is given."""
        return Call("POST", f"{self.path}/{item_id}/{sub}", parse, json=json, bearer=bearer,
                    idempotency_key=idempotency_key, auto_idempotency_key=auto_idempotency_key)

    def parse_page(self, body: Any) -> Page[M]:
        page = Page[Any].model_validate(body)  # the envelope first: {"data": [...], ...}
        return Page[Any](data=[self.model.model_validate(item) for item in page.data],
                         next_cursor=page.next_cursor)


class SyncResource:
    def __init__(self, http: SyncHttp) -> None:
        self._http = http


class AsyncResource:
    def __init__(self, http: AsyncHttp) -> None:
        self._http = http
