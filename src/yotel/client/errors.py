"""The SDK's error tree (page 003, "Error reference"). Raised from the API's error envelope
`{"ok": false, "error": {"type", "message", "request_id", "details"}}`, by `type` first and by
HTTP status when the body is not an envelope (a proxy's 502, say)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


class YotelError(Exception):
    """Any failure the SDK reports. HTTP errors carry what the server said."""

    def __init__(self, message: str, *, status: int | None = None, type: str | None = None,
                 request_id: str | None = None, details: list[Any] | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.request_id = request_id
        self.details = details or []
        self.body = body

    def __str__(self) -> str:
        where = f" (request {self.request_id})" if self.request_id else ""
        status = f"{self.status} " if self.status else ""
        return f"{status}{self.type or 'error'}: {self.message}{where}"


class APIConnectionError(YotelError):
    """The server could not be reached (connection refused, reset, timeout)."""


class ValidationError(YotelError):
    """400 (body invalid) or 422 (e.g. TTS not wired)."""


class AuthenticationError(YotelError):
    """401: bad, revoked or expired key or callback token."""


class PermissionDenied(YotelError):  # noqa: N818 - the documented name (page 003)
    """403: missing scope, tenant fence, or no monitor/conference relationship."""


class NotFoundError(YotelError):
    """404."""


class ConflictError(YotelError):
    """409: call already ended, state mismatch, voice agent in use."""


class NoVoiceAgentConfigured(YotelError):  # noqa: N818 - the documented name (page 003)
    """424: no voice agent resolved (or subprotocol mismatch)."""


class RateLimitedError(YotelError):
    """429: rate limit or max_concurrent. `retry_after_s` says when to try again."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class ServerError(YotelError):
    """5xx: Yotel-internal. Quote `request_id` to support."""


_BY_STATUS: dict[int, type[YotelError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDenied, 404: NotFoundError,
    409: ConflictError, 422: ValidationError, 424: NoVoiceAgentConfigured, 429: RateLimitedError,
}

# PRODUCT.md §3: the envelope's `type`, which wins over the status when the server sent one.
_BY_TYPE: dict[str, type[YotelError]] = {
    "validation_error": ValidationError, "unprocessable": ValidationError,
    "authentication_error": AuthenticationError, "permission_denied": PermissionDenied,
    "not_found": NotFoundError, "conflict": ConflictError,
    "no_voice_agent_configured": NoVoiceAgentConfigured,
    "subprotocol_mismatch": NoVoiceAgentConfigured,
    "rate_limited": RateLimitedError, "max_concurrent": RateLimitedError,
    "server_error": ServerError,
}


def error_class(status: int, type_: str | None = None) -> type[YotelError]:
    if type_ in _BY_TYPE:
        return _BY_TYPE[type_]
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, YotelError)


def error_from_response(status: int, body: Any, headers: dict[str, str]) -> YotelError:
    """Build the right error for a non-2xx response. `headers` keys are lower-case."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    type_ = error.get("type") if isinstance(error.get("type"), str) else None
    details = error.get("details")
    kw: dict[str, Any] = {
        "status": status, "type": type_,
        "request_id": error.get("request_id") or headers.get("x-request-id"),
        "details": details if isinstance(details, list) else [] if details is None else [details],
        "body": body,
    }
    message = str(error.get("message") or f"HTTP {status}")
    cls = error_class(status, type_)
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after_s=_retry_after(body, headers), **kw)
    return cls(message, **kw)


def _retry_after(body: Any, headers: dict[str, str]) -> float | None:
    value = body.get("retry_after_s") if isinstance(body, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return parse_retry_after(headers.get("retry-after"), datetime.now(UTC))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 §5.6.7: HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
