"""The one place where errors become HTTP responses (PRODUCT.md §3 envelope):

    {"ok": false, "error": {"type", "message", "request_id", "details": [...]}}

plus `retry_after_s` and a `Retry-After` header on 429. Framework errors (request validation,
unknown route, wrong method, unparseable body) are first translated into the `YotelError` tree.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from yotel.api.inputs import BODY_SCOPE_KEY
from yotel.domain.errors import (
    AuthenticationError,
    Conflict,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    ServerError,
    ValidationError,
    YotelError,
    _RetryableError,
)
from yotel.domain.text import json_strings

log = logging.getLogger("yotel.api")
_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"})

_BY_STATUS: dict[int, type[YotelError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDenied, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 413: ValidationError, 422: ValidationError,
}


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(error: YotelError, request_id: str,
                   hide: Collection[str] = ()) -> JSONResponse:
    """The envelope for `error`; any of the request's own values in `hide` that a message quotes
    is replaced by `…` (a net under messages that would echo the input)."""
    body: dict[str, Any] = {"type": error.type, "message": _hidden(error.message, hide),
                            "request_id": request_id,
                            "details": [_hidden_detail(d, hide) for d in error.details]}
    if isinstance(error, _RetryableError):
        body["retry_after_s"] = error.retry_after_s
    headers = {**error.headers, "X-Request-Id": request_id}
    return JSONResponse({"ok": False, "error": body}, status_code=error.status, headers=headers)


def _hidden(text: str, hide: Collection[str]) -> str:
    for value in hide:
        if value in text:
            text = text.replace(value, "…")
    return text


def _hidden_detail(detail: Mapping[str, Any], hide: Collection[str]) -> dict[str, Any]:
    shown = dict(detail)
    if isinstance(shown.get("msg"), str):
        shown["msg"] = _hidden(shown["msg"], hide)
    return shown


def request_values(request: Request) -> list[str]:
    """What this request sent that an error message must not quote: path parameters, query
    values, the credential, and the strings of a JSON body; longest first, so a value is hidden
    whole. Values under 4 characters, and numbers under 8 digits, are left: they are no secret
    and "5" or "200" is in many messages of our own."""
    values = [*request.path_params.values(), *request.query_params.values(),
              request.headers.get("authorization", "")]
    body = request.scope.get(BODY_SCOPE_KEY)
    if body:
        with contextlib.suppress(ValueError):
            values.extend(text for _, text in json_strings(json.loads(body), keys=False))
    kept = {v for v in values if isinstance(v, str) and len(v) >= (8 if v.isdigit() else 4)}
    return sorted(kept, key=len, reverse=True)


def validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without `input`/`ctx`: never echo what the client sent (it may hold a
    secret such as `auth_token`)."""
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in errors]


def from_validation(exc: RequestValidationError) -> ValidationError:
    details = validation_details(exc.errors())
    if any(d["type"] == "json_invalid" for d in details):
        return ValidationError("the request body is not valid JSON", details=details)
    if not details:
        return ValidationError()
    if details[0]["loc"] == ["body"] and details[0]["type"] == "model_attributes_type":
        return ValidationError("the request body must be a JSON object "
                               "(Content-Type: application/json)", details=details)
    where = ".".join(str(part) for part in details[0]["loc"])
    message = str(details[0]["msg"])
    return ValidationError(f"{where}: {message}" if where else message, details=details)


def from_http_exception(exc: StarletteHTTPException) -> YotelError:
    if isinstance(exc.__cause__, YotelError):  # e.g. the body limit, raised while reading
        return exc.__cause__
    kind = _BY_STATUS.get(exc.status_code, ServerError)
    message: str | None = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404:
        message = "no such route" if message in (None, "Not Found") else message
    return kind(message)


async def _on_yotel_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, YotelError)
    return yotel_error_response(request, exc)


def yotel_error_response(request: Request, exc: YotelError) -> JSONResponse:
    """The answer to an error of ours raised while serving `request` (the app's handler, and
    the Control API's hot path, `api/control_fast.py`)."""
    if exc.status >= 500:
        log.error("server error %s: %s", request_id_of(request), exc.message)
    return error_response(exc, request_id_of(request), request_values(request))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(from_validation(exc), request_id_of(request), request_values(request))


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    response = error_response(from_http_exception(exc), request_id_of(request))
    if exc.status_code == 405:
        # Starlette names the methods of the first route matching the path only; RFC 9110
        # §15.5.6 wants every method the resource supports.
        response.headers["Allow"] = ", ".join(allowed_methods(request))
    for name, value in (exc.headers or {}).items():
        response.headers.setdefault(name, value)
    return response


def allowed_methods(request: Request) -> list[str]:
    """The methods `/openapi.json` documents for the request's path."""
    spec = request.app.openapi()
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for template, item in spec.get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\{[^}/]+\\}", "[^/]+", re.escape(template)), path):
            methods |= {method.upper() for method in item if method.upper() in _METHODS}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(YotelError, _on_yotel_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
