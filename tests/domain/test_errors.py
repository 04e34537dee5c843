from __future__ import annotations

import pytest

from yotel.domain import errors

DOCUMENTED = [  # PRODUCT.md §3 and the Control API page's error table
    (errors.ValidationError, 400, "validation_error"),
    (errors.AuthenticationError, 401, "authentication_error"),
    (errors.PermissionDenied, 403, "permission_denied"),
    (errors.NotFound, 404, "not_found"),
    (errors.Conflict, 409, "conflict"),
    (errors.Unprocessable, 422, "unprocessable"),
    (errors.NoVoiceAgentConfigured, 424, "no_voice_agent_configured"),
    (errors.SubprotocolMismatch, 424, "subprotocol_mismatch"),
    (errors.ServerError, 500, "server_error"),
]


@pytest.mark.parametrize(("cls", "status", "kind"), DOCUMENTED)
def test_documented_errors_carry_status_and_type(cls: type[errors.YotelError], status: int,
                                                 kind: str) -> None:
    error = cls("boom", details=[{"field": "x"}])
    assert isinstance(error, errors.YotelError)
    assert (error.status, error.type, error.message) == (status, kind, "boom")
    assert error.details == ({"field": "x"},)


@pytest.mark.parametrize(("cls", "kind"), [(errors.RateLimited, "rate_limited"),
                                           (errors.MaxConcurrent, "max_concurrent")])
def test_429s_carry_retry_after(cls: type[errors.RateLimited], kind: str) -> None:
    error = cls(retry_after_s=0.25)
    assert (error.status, error.type, error.retry_after_s) == (429, kind, 0.25)
    # Retry-After is whole seconds, rounded up so a client never comes back too early.
    assert error.headers == {"Retry-After": "1"}
    assert cls(retry_after_s=2.01).headers == {"Retry-After": "3"}
    assert cls(retry_after_s=-1).retry_after_s == 0.0


def test_default_message_and_auth_header() -> None:
    assert errors.NotFound().message == "not found"
    assert errors.AuthenticationError().headers == {"WWW-Authenticate": "Bearer"}
    assert errors.ServiceUnavailable().type == "server_error"
