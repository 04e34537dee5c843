"""Yotel: telephony for voice AI. Importing `yotel` gives the client SDK only; the platform
(`yotel serve`) lives behind the `server` extra and is never imported from here."""

from yotel import webhooks  # noqa: F401  (`yotel.webhooks.verify` after `import yotel`)
from yotel.client import (
    APIConnectionError,
    AsyncYotel,
    AudioConfig,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    NoVoiceAgentConfigured,
    Page,
    PermissionDenied,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Tenant,
    ValidationError,
    VoiceAgent,
    Yotel,
    YotelError,
)

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError", "AsyncYotel", "AudioConfig", "AuthenticationError", "ConflictError",
    "NoVoiceAgentConfigured", "NotFoundError", "Page", "PermissionDenied", "RateLimitedError",
    "RetryPolicy", "ServerError", "Tenant", "ValidationError", "VoiceAgent", "Yotel",
    "YotelError", "__version__",
]
