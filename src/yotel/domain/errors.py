# ruff: noqa: N818  (class names follow the documented error table, not an Error suffix)
"""The one error tree (PRODUCT.md §3, the Control API page's error table).

Every failure the API reports is a `YotelError` subclass carrying its HTTP `status` and envelope
`type` as class attributes; `yotel.api.errors` turns them into the JSON envelope in one place.
Lower layers (SQLAlchemy, pydantic, redis) are translated into these at their boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

Detail = Mapping[str, Any]


class YotelError(Exception):
    """Base of every error the platform reports to a client."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, *, details: Sequence[Detail] = ()) -> None:
        self.message = message or self.default_message
        self.details: tuple[Detail, ...] = tuple(details)
        super().__init__(self.message)

    @property
    def headers(self) -> dict[str, str]:
        """Extra HTTP headers this error's response must carry."""
        return {}


class ValidationError(YotelError):
    status = 400
    type = "validation_error"
    default_message = "the request is invalid"


class AuthenticationError(YotelError):
    status = 401
    type = "authentication_error"
    default_message = "missing or invalid credentials"

    @property
    def headers(self) -> dict[str, str]:
        # RFC 6750 §3: a 401 names the scheme the client should use.
        return {"WWW-Authenticate": "Bearer"}


class PermissionDenied(YotelError):
    status = 403
    type = "permission_denied"
    default_message = "the credentials do not allow this"


class NotFound(YotelError):
    status = 404
    type = "not_found"
    default_message = "not found"


class MethodNotAllowed(YotelError):
    """Wrong HTTP method on a known route (the envelope still applies)."""

    status = 405
    type = "method_not_allowed"
    default_message = "method not allowed"


class Conflict(YotelError):
    status = 409
    type = "conflict"
    default_message = "the request conflicts with the current state"


class Unprocessable(YotelError):
    status = 422
    type = "unprocessable"
    default_message = "the request cannot be processed"


class NoVoiceAgentConfigured(YotelError):
    status = 424
    type = "no_voice_agent_configured"
    default_message = (
        "no voice agent resolved: pin one on the flow node or campaign, or set the tenant's "
        "default_voice_agent_id or voice_agent_default_ws_url"
    )


class SubprotocolMismatch(YotelError):
    status = 424
    type = "subprotocol_mismatch"
    default_message = "the voice agent's subprotocol is not offered by this media node"


class _RetryableError(YotelError):
    """429s: the client may retry after `retry_after_s` seconds."""

    status = 429

    def __init__(self, message: str | None = None, *, retry_after_s: float,
                 details: Sequence[Detail] = ()) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(0.0, retry_after_s)

    @property
    def headers(self) -> dict[str, str]:
        # RFC 9110 §10.2.3: Retry-After is whole seconds; round up so a client never retries early.
        return {"Retry-After": str(max(1, int(-(-self.retry_after_s // 1))))}


class RateLimited(_RetryableError):
    type = "rate_limited"
    default_message = "rate limit exceeded"


class MaxConcurrent(_RetryableError):
    type = "max_concurrent"
    default_message = "the voice agent's max_concurrent cap is reached"


class ServerError(YotelError):
    status = 500
    type = "server_error"
    default_message = "internal error"


class ServiceUnavailable(ServerError):
    """A backing service (database, Redis) is down; reported as a 5xx `server_error`."""

    status = 503
    default_message = "a backing service is unavailable"
