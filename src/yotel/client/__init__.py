"""The Yotel client SDK. Light on purpose: httpx and pydantic only, nothing server-side."""

from yotel.client.client import AsyncYotel, Yotel
from yotel.client.errors import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    NoVoiceAgentConfigured,
    PermissionDenied,
    RateLimitedError,
    ServerError,
    ValidationError,
    YotelError,
)
from yotel.client.fields import NOT_GIVEN
from yotel.client.models import AudioConfig, Page, Tenant, VoiceAgent
from yotel.client.retry import RetryPolicy

__all__ = [
    "NOT_GIVEN", "APIConnectionError", "AsyncYotel", "AudioConfig", "AuthenticationError",
    "ConflictError", "NoVoiceAgentConfigured", "NotFoundError", "Page", "PermissionDenied",
    "RateLimitedError", "RetryPolicy", "ServerError", "Tenant", "ValidationError", "VoiceAgent",
    "Yotel", "YotelError",
]
