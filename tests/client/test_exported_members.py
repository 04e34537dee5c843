import types

import yotel

DOCUMENTED = {
    "Yotel", "AsyncYotel", "YotelError", "APIConnectionError", "ValidationError",
    "AuthenticationError", "PermissionDenied", "NotFoundError", "ConflictError",
    "NoVoiceAgentConfigured", "RateLimitedError", "ServerError", "RetryPolicy", "NOT_GIVEN",
    "VoiceAgent", "Tenant", "AudioConfig", "Page", "__version__",
}


def test_exported_members_are_the_documented_list() -> None:
    assert set(yotel.__all__) == DOCUMENTED
    for name in yotel.__all__:
        assert hasattr(yotel, name), name
    public = {n for n in dir(yotel) if not n.startswith("_")
              and not isinstance(getattr(yotel, n), types.ModuleType)}
    assert public <= DOCUMENTED
