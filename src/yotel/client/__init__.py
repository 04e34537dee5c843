"""The Yotel client SDK. Light on purpose: httpx and pydantic only, nothing server-side.

Room is kept for the later client modules: `yotel.client.webhooks` (Standard Webhooks signature
verification) and `yotel.client.voice_ai` (the voice-AI toolkit for the audio-fork protocol).
"""

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
from yotel.client.models import AudioConfig, Page, Tenant, VoiceAgent
from yotel.client.retry import RetryPolicy

__all__ = [
    "APIConnectionError", "AsyncYotel", "AudioConfig", "AuthenticationError", "ConflictError",
    "NoVoiceAgentConfigured", "NotFoundError", "Page", "PermissionDenied", "RateLimitedError",
    "RetryPolicy", "ServerError", "Tenant", "ValidationError", "VoiceAgent", "Yotel",
    "YotelError",
]
