"""Standard Webhooks signatures both ways against the `standardwebhooks` package, and the
SDK's `yotel.webhooks.verify` with its typed events."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import standardwebhooks
from hypothesis import given
from hypothesis import strategies as st

import yotel.webhooks
from yotel.webhooks import (
    CallRecordingReady,
    CallStarted,
    GenericEvent,
    WebhookVerificationError,
    verify,
)
from yotel.webhooks.signature import check_signature, generate_secret, headers_for, sign

EVENT = {"id": "evt_01JDX0000000000000000000", "type": "call.recording_ready",
         "created_at": "2026-11-30T02:00:00.123456Z", "tenant_id": "t1",
         "data": {"call_id": "c1", "stereo": True,
                  "channels": {"left": "caller", "right": "ai"}, "duration_s": 12.5,
                  "url": "https://yotel.example/api/v1/calls/c1/recording"}}


def _signed(secrets: list[str], event: dict[str, object] = EVENT,
            at: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    return body, headers_for(secrets, str(event["id"]), at or int(time.time()), body)


def test_secret_is_whsec_of_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret) == 6 + 44
    assert secret != generate_secret()


def test_our_signature_verifies_with_standardwebhooks() -> None:
    secret = generate_secret()
    body, headers = _signed([secret])
    assert standardwebhooks.Webhook(secret).verify(body, headers) == EVENT


def test_standardwebhooks_signature_verifies_with_our_sdk() -> None:
    secret = generate_secret()
    body = json.dumps(EVENT).encode()
    now = int(time.time())
    signature = standardwebhooks.Webhook(secret).sign(
        str(EVENT["id"]), datetime.fromtimestamp(now, UTC), body.decode())
    assert signature == sign(secret, str(EVENT["id"]), now, body)
    event = verify(body, {"Webhook-Id": str(EVENT["id"]), "Webhook-Timestamp": str(now),
                          "Webhook-Signature": signature}, secret)
    assert isinstance(event, CallRecordingReady)
    assert event.data.stereo is True and event.data.channels.right == "ai"


def test_tampered_body_is_rejected_by_the_package_and_by_us() -> None:
    secret = generate_secret()
    body, headers = _signed([secret])
    tampered = body.replace(b"12.5", b"99.5")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError, match="signature"):
        verify(tampered, headers, secret)


def test_ten_minute_old_timestamp_is_rejected_by_the_package_and_by_us() -> None:
    secret = generate_secret()
    body, headers = _signed([secret], at=int(time.time()) - 600)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(body, headers, secret)
    future = _signed([secret], at=int(time.time()) + 600)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(*future, secret)


def test_rotation_overlap_either_secret_verifies_with_the_package() -> None:
    old, new = generate_secret(), generate_secret()
    body, headers = _signed([new, old])
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(body, headers) == EVENT
        assert verify(body, headers, secret).id == EVENT["id"]
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, generate_secret())


def test_missing_headers_and_bad_bodies_are_clear_errors() -> None:
    secret = generate_secret()
    body, headers = _signed([secret])
    with pytest.raises(WebhookVerificationError, match="missing webhook-signature"):
        verify(body, {k: v for k, v in headers.items() if k != "webhook-signature"}, secret)
    with pytest.raises(WebhookVerificationError, match="not a Unix time"):
        verify(body, {**headers, "webhook-timestamp": "soon"}, secret)
    garbage = b"not json"
    signed = headers_for([secret], "evt_x", int(time.time()), garbage)
    with pytest.raises(WebhookVerificationError, match="not a Yotel event"):
        verify(garbage, signed, secret)


def test_typed_events_and_unknown_types() -> None:
    secret = generate_secret()
    started = {**EVENT, "type": "call.started",
               "data": {"call_id": "c1", "direction": "outbound", "from": "+1555", "to": "+1666",
                        "campaign_id": None, "lead_id": None, "new_field": 1}}
    event = verify(*_signed([secret], started), secret)
    assert isinstance(event, CallStarted) and event.data.from_ == "+1555"
    assert event.data.model_extra == {"new_field": 1}
    future = {**EVENT, "type": "call.teleported", "data": {"call_id": "c1", "to": "mars"}}
    other = verify(*_signed([secret], future), secret)
    assert type(other) is GenericEvent and other.data == {"call_id": "c1", "to": "mars"}


@given(st.binary(max_size=256), st.text(min_size=1, max_size=40))
def test_any_body_and_id_round_trip(body: bytes, msg_id: str) -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = int(time.time())
    header = sign(secret, msg_id, now, body)
    check_signature(secret, msg_id, now, body, header)
    with pytest.raises(WebhookVerificationError):
        check_signature(secret, msg_id, now, body + b"x", header)


def test_sdk_package_exports_verify_without_server_modules() -> None:
    assert yotel.webhooks.verify is verify
    assert "yotel.webhooks.dispatcher" not in yotel.webhooks.__all__
