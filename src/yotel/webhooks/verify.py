"""`yotel.webhooks.verify`: check a delivery's Standard Webhooks signature and timestamp, then
return its typed event. Standard library HMAC and pydantic only (importing `yotel` stays
server-free), compatible with the `standardwebhooks` package both ways."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from yotel.webhooks.events import WebhookEvent, parse_event
from yotel.webhooks.signature import SignatureError, check_signature, check_timestamp

WebhookVerificationError = SignatureError


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive (RFC 9110 §5.1); a plain dict may use any case.
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise SignatureError(f"missing {name} header")


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str, *,
           now: float | None = None) -> WebhookEvent:
    """The event in `payload` (the raw request body), or `WebhookVerificationError` when the
    signature does not match `secret` or `webhook-timestamp` is more than 5 minutes off."""
    body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    msg_id = _header(headers, "webhook-id")
    timestamp = check_timestamp(_header(headers, "webhook-timestamp"),
                                time.time() if now is None else now)
    check_signature(secret, msg_id, timestamp, body, _header(headers, "webhook-signature"))
    try:
        return parse_event(json.loads(body))
    except ValueError as exc:  # JSON or pydantic: a verified body that is not an event
        raise SignatureError(f"the webhook body is not a Yotel event: {exc}") from exc
