"""μ-law ⇄ A-law by `bytes.translate`: bit-exact with the ITU tables' numpy lookup, every code."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from yotel.rtp import g711

EVERY_CODE = bytes(range(256))


@pytest.mark.parametrize(("source", "target", "digest"), [
    ("pcmu", "pcma", "a511897e1e42589f5c11a56615e0c29db268e20f82ee5cb81d7c42f812fe8f17"),
    ("pcma", "pcmu", "29fe089f9333915612c7283f92586f175e6e9ff5819768e9545c11c87e5bea54"),
])
def test_every_code_maps_as_decode_then_encode(source: str, target: str, digest: str) -> None:
    out = g711.transcode(EVERY_CODE, source, target)
    # The definition: decode in the source law, re-encode the PCM in the target law...
    via_pcm = g711.encode(g711.decode(EVERY_CODE, source), target)
    # ...and the numpy tables the previous implementation indexed, code by code.
    numpy_table = g711.ULAW_TO_ALAW if source == "pcmu" else g711.ALAW_TO_ULAW
    assert out == via_pcm == numpy_table[np.frombuffer(EVERY_CODE, np.uint8)].tobytes()
    assert hashlib.sha256(out).hexdigest() == digest  # the digest of the pre-translate output
    for code in range(256):  # one byte at a time too: no context between samples
        assert g711.transcode(bytes([code]), source, target) == out[code:code + 1]


def test_a_frame_keeps_its_order_and_length_and_silence_maps_to_silence() -> None:
    frame = bytes(np.random.default_rng(7).integers(0, 256, 160, dtype=np.uint8))
    alaw = g711.transcode(frame, "pcmu", "pcma")
    assert len(alaw) == 160
    assert alaw == bytes(g711.ULAW_TO_ALAW[b] for b in frame)
    assert g711.transcode(g711.silence("pcmu"), "pcmu", "pcma") == g711.silence("pcma")
    # A-law has no zero: its silence code is +8, which μ-law keeps as +8 (0xFE), not 0 (0xFF).
    assert g711.transcode(g711.silence("pcma"), "pcma", "pcmu") == b"\xfe" * 160
    assert g711.transcode(b"", "pcma", "pcmu") == b""
