"""Webhooks (PRODUCT.md §7). This package's top level is the SDK's part, light and server-free:
`verify` checks a delivery and returns its typed event, `events` holds the models, `signature`
the Standard Webhooks scheme. The server's part (endpoints, the outbox dispatcher) lives in the
submodules `service`, `store`, `sender`, `dispatcher` and is never imported from here."""

from yotel.webhooks.events import (
    EVENT_TYPES,
    AiSessionConferenceChanged,
    AiSessionEnded,
    AiSessionEscalated,
    AiSessionStarted,
    AiSessionTransferred,
    CallAnswered,
    CallEnded,
    CallRecordingReady,
    CallStarted,
    GenericEvent,
    WebhookEvent,
    parse_event,
)
from yotel.webhooks.verify import WebhookVerificationError, verify

__all__ = [
    "EVENT_TYPES", "AiSessionConferenceChanged", "AiSessionEnded", "AiSessionEscalated",
    "AiSessionStarted", "AiSessionTransferred", "CallAnswered", "CallEnded", "CallRecordingReady",
    "CallStarted", "GenericEvent", "WebhookEvent", "WebhookVerificationError", "parse_event",
    "verify",
]
