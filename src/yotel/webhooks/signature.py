"""Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"): pure
functions, no I/O, shared by the dispatcher (signing) and the SDK (verifying).

A secret is `whsec_<base64 of random bytes>`; the HMAC key is the base64-decoded part. The
signed content is `<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` is a
space-separated list of `v1,<base64 HMAC-SHA256>` (several during a secret rotation), and a
receiver accepts the message when any of them matches one of its secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes
SIGNATURE_VERSION = "v1"
# Standard Webhooks, "Verifying": reject a timestamp more than 5 minutes from now (replays).
TOLERANCE_S = 5 * 60


class SignatureError(ValueError):
    """A webhook's signature or timestamp does not verify."""


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of `whsec_<base64>` (a bare base64 string is accepted too)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise SignatureError("the webhook secret is not whsec_<base64>") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret (rotation overlap)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def headers_for(secrets_: Iterable[str], msg_id: str, timestamp: int,
                body: bytes) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets_, msg_id, timestamp, body)}


def check_signature(secret: str, msg_id: str, timestamp: int, body: bytes,
                    header: str) -> None:
    """Raise `SignatureError` unless one `v1` signature in `header` matches (constant time)."""
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1].encode("ascii")
    for item in header.split():
        version, _, value = item.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(
                value.encode("ascii", "replace"), expected):
            return
    raise SignatureError("no matching webhook signature")


def check_timestamp(timestamp: str, now: float, tolerance_s: float = TOLERANCE_S) -> int:
    """The header's Unix time, or `SignatureError` when malformed or too far from `now`."""
    if not timestamp.isdigit():
        raise SignatureError("webhook-timestamp is not a Unix time")
    value = int(timestamp)
    if value < now - tolerance_s:
        raise SignatureError("webhook-timestamp is too old")
    if value > now + tolerance_s:
        raise SignatureError("webhook-timestamp is in the future")
    return value
