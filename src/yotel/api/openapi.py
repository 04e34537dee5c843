"""`/openapi.json` as the server behaves, so schema-driven clients and fuzzers agree with it.

FastAPI documents each operation's success and a 422 we never send. `install_openapi` rewrites
the generated document once, for every route, present and future:
- the error envelope (`ErrorEnvelope`) on every status an operation can return: 400 always (any
  request can be malformed), 401 and 403 when it is authenticated, 404 when its path has an id,
  409 when it writes, 503 when it reads the database, and whatever the route adds with
  `responses=error_responses(...)` (e.g. 404 for an id in the body, 424, 429); FastAPI's 422 goes
  unless a route declares one;
- `X-Request-Id` on every response, `WWW-Authenticate` on 401, `Retry-After` on 429;
- every request string (parameter or body field) without an enum, format or pattern of its own
  gets `SAFE_TEXT_PATTERN` (no NUL: what `yotel.api.inputs` refuses);
- fields typed `WsUrl` get the pattern the server's URL policy enforces (`yotel.domain.urls`);
- a query or path parameter is never `null` (FastAPI's `anyOf [T, null]` becomes `T`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from yotel.domain.text import SAFE_TEXT_PATTERN
from yotel.domain.urls import URL_KIND_KEY, url_pattern

JSON = dict[str, Any]
WRITES = frozenset({"post", "put", "patch", "delete"})
_ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"

DESCRIPTIONS: dict[int, str] = {
    400: "`validation_error`: malformed request (JSON, types, unknown fields, limits, "
         "refused characters or URLs, bad cursor)",
    401: "`authentication_error`: missing, unknown or revoked credential",
    403: "`permission_denied`: the credential lacks the scope",
    404: "`not_found`: no such object in this tenant (or a malformed id)",
    409: "`conflict`: the change conflicts with the current state",
    422: "`unprocessable`: the request is understood but cannot be carried out",
    424: "`no_voice_agent_configured` or `subprotocol_mismatch`",
    429: "`rate_limited` or `max_concurrent`: retry after `Retry-After` seconds",
    503: "`server_error`: a backing service (database, Redis) is unavailable",
}


class ErrorDetail(BaseModel):
    """Usually all three; a resource may add keys of its own (e.g. `node_id`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] | None = Field(default=None, description="where: `[\"body\", \"name\"]`")
    msg: str | None = None
    type: str | None = None


class ErrorBody(BaseModel):
    type: str = Field(description="machine-readable kind, e.g. `validation_error`")
    message: str
    request_id: str = Field(description="also in the `X-Request-Id` header")
    details: list[ErrorDetail]
    retry_after_s: float | None = Field(default=None, description="on 429 only")


class ErrorEnvelope(BaseModel):
    ok: bool = Field(description="always false")
    error: ErrorBody


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer `statuses` beyond the defaults above."""
    return {status: {"model": ErrorEnvelope, "description": DESCRIPTIONS[status]}
            for status in statuses}


def install_openapi(app: FastAPI, *, allow_insecure_urls: bool) -> None:
    """Serve the rewritten document at `/openapi.json` (built once, on first use)."""

    def openapi() -> JSON:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version,
                               description=app.description, routes=app.routes)
            app.openapi_schema = rewrite(spec, allow_insecure_urls=allow_insecure_urls)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def rewrite(spec: JSON, *, allow_insecure_urls: bool) -> JSON:
    schemas: JSON = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorDetail, ErrorBody, ErrorEnvelope):
        schemas.update(_component(model))
    for path, method, operation in _operations(spec):
        _document_errors(path, method, operation)
        _document_headers(operation)
        for parameter in operation.get("parameters", ()):
            parameter["schema"] = _not_null(parameter.get("schema", {}))
    for schema in _request_schemas(spec, schemas):
        _constrain_strings(schema, allow_insecure_urls)
    if not _mentions(spec, "#/components/schemas/HTTPValidationError"):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return spec


def _component(model: type[BaseModel]) -> JSON:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return {**definitions, model.__name__: schema}


def _operations(spec: JSON) -> Iterator[tuple[str, str, JSON]]:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield path, method, operation


def _document_errors(path: str, method: str, operation: JSON) -> None:
    responses: JSON = operation.setdefault("responses", {})
    auto_422 = responses.get("422", {})
    if "HTTPValidationError" in str(auto_422):
        del responses["422"]
    statuses = {400}
    if operation.get("security"):
        statuses |= {401, 403, 503}
    if "{" in path:
        statuses.add(404)
    if method in WRITES:
        statuses.add(409)
    for code in statuses:
        responses.setdefault(str(code), {"description": DESCRIPTIONS[code]})
    for status, response in responses.items():
        if str(status).startswith(("4", "5")):
            response["content"] = {"application/json": {"schema": {"$ref": _ENVELOPE_REF}}}


def _document_headers(operation: JSON) -> None:
    for status, response in operation.get("responses", {}).items():
        headers: JSON = response.setdefault("headers", {})
        headers["X-Request-Id"] = {"description": "`req_<ULID>`, also in error envelopes",
                                   "schema": {"type": "string"}}
        if status == "401":
            headers["WWW-Authenticate"] = {"schema": {"type": "string"}}
        if status == "429":
            headers["Retry-After"] = {"description": "whole seconds",
                                      "schema": {"type": "integer", "minimum": 1}}


def _not_null(schema: JSON) -> JSON:
    options = schema.get("anyOf")
    if isinstance(options, list):
        kept = [option for option in options if option.get("type") != "null"]
        if len(kept) == 1:
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _request_schemas(spec: JSON, schemas: JSON) -> Iterator[JSON]:
    """Every schema a request can carry: parameters, and bodies with the components they
    reference (each component once)."""
    pending: list[Any] = []
    for _, _, operation in _operations(spec):
        pending.extend(parameter.get("schema", {}) for parameter in
                       operation.get("parameters", ()))
        pending.extend(operation.get("requestBody", {}).get("content", {}).values())
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str):
                name = reference.rsplit("/", 1)[-1]
                if name not in seen and name in schemas:
                    seen.add(name)
                    pending.append(schemas[name])
                continue
            yield node
            pending.extend(value for value in node.values() if isinstance(value, dict | list))


def _constrain_strings(schema: JSON, allow_insecure_urls: bool) -> None:
    kind = schema.get(URL_KIND_KEY)
    if isinstance(kind, str):
        schema["pattern"] = url_pattern(kind, allow_insecure=allow_insecure_urls)
        return
    if schema.get("type") != "string":
        return
    if not any(key in schema for key in ("enum", "const", "pattern", "format")):
        schema["pattern"] = SAFE_TEXT_PATTERN


def _mentions(node: Any, text: str) -> bool:
    return text in str(node)
