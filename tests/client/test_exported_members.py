"""The public API is exactly the documented list (in the style of httpx's test of its exports)."""

import types

import yotel
import yotel.client

DOCUMENTED = [
    "APIConnectionError", "AsyncYotel", "AudioConfig", "AuthenticationError", "ConflictError",
    "NoVoiceAgentConfigured", "NotFoundError", "Page", "PermissionDenied", "RateLimitedError",
    "RetryPolicy", "ServerError", "Tenant", "ValidationError", "VoiceAgent", "Yotel",
    "YotelError",
]


def _public(module: types.ModuleType) -> list[str]:
    return sorted(name for name, value in vars(module).items()
                  if not name.startswith("_") and not isinstance(value, types.ModuleType))


def test_yotel_exports_exactly_the_documented_list() -> None:
    assert sorted(yotel.__all__) == sorted([*DOCUMENTED, "__version__"])
    assert _public(yotel) == DOCUMENTED
    assert isinstance(yotel.__version__, str)


def test_yotel_client_exports_the_same_surface() -> None:
    assert sorted(yotel.client.__all__) == DOCUMENTED
    assert _public(yotel.client) == DOCUMENTED
    for name in DOCUMENTED:
        assert getattr(yotel, name) is getattr(yotel.client, name), name


def test_every_error_class_is_a_yotel_error() -> None:
    errors = [getattr(yotel, n) for n in DOCUMENTED if n.endswith(("Error", "Denied"))
              or n == "NoVoiceAgentConfigured"]
    assert len(errors) == 10
    assert all(issubclass(e, yotel.YotelError) for e in errors)
