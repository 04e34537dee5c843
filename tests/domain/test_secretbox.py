from __future__ import annotations

import pytest

from yotel.domain.secretbox import SecretBox


def test_round_trip_and_ciphertext_hides_plaintext() -> None:
    box = SecretBox("k1")
    sealed = box.seal("super-secret-token")
    assert "super-secret-token" not in sealed
    assert box.open(sealed) == "super-secret-token"
    assert box.seal("x") != box.seal("x")  # random IV per seal


def test_wrong_key_or_tampering_is_refused() -> None:
    sealed = SecretBox("k1").seal("token")
    with pytest.raises(ValueError):
        SecretBox("k2").open(sealed)
    tampered = sealed[:-4] + ("AAAA" if sealed[-4:] != "AAAA" else "BBBB")
    with pytest.raises(ValueError):
        SecretBox("k1").open(tampered)
    with pytest.raises(ValueError):
        SecretBox("")
    assert "k1" not in repr(SecretBox("k1"))
