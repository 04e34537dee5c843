"""Secrets at rest (PRODUCT.md §2, `YOTEL_SECRET_KEY` "signs/encrypts secrets at rest").

Tenant secrets that Yotel must hand back to a third party later (a voice agent's `auth_token`, SIP
digest passwords) are sealed with Fernet (AES-128-CBC + HMAC-SHA256, authenticated). The Fernet key
is derived from the configured secret with HKDF-SHA256 (RFC 5869), so the secret itself can be any
string and each use gets its own key via `purpose`.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Seal and open short secrets with a key derived from the process secret."""

    def __init__(self, secret: str, *, purpose: str = "yotel.secrets.v1") -> None:
        if not secret:
            raise ValueError("secret key is empty")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        key = hkdf.derive(secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """Decrypt; raise `ValueError` if the value was not sealed with this key or was altered."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ValueError("sealed secret cannot be opened with this key") from exc

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"
