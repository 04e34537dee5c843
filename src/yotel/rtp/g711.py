"""G.711 μ-law / A-law ⇄ 16-bit linear PCM through numpy lookup tables (ITU-T G.711).

Decoding is one 256-entry table lookup per sample; encoding one 65536-entry lookup on the
sample's bit pattern; both are vectorised, never a Python loop per sample. Law-to-law
transcoding (a bridge, an AI on the other law) is `bytes.translate` over a 256-byte table: one
C call with no array objects, about 20x cheaper than a numpy lookup on a 160-byte frame.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

SILENCE_ULAW = 0xFF
SILENCE_ALAW = 0xD5
FRAME_SAMPLES = 160  # 20 ms at 8 kHz


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8,
                         ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


def _segment(value: npt.NDArray[np.int32], ends: list[int]) -> npt.NDArray[np.int32]:
    return np.searchsorted(np.array(ends), value, side="left").astype(np.int32)


def _ulaw_encode(samples: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    # The ITU-T G.711 reference works on 14-bit values (sample >> 2, arithmetic shift).
    value = samples >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), 8159) + 33
    seg = _segment(value, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4)
                    | ((value >> (np.minimum(seg, 7) + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_encode(samples: npt.NDArray[np.int32]) -> npt.NDArray[np.uint8]:
    # The reference works on 13-bit values; negatives are one's-complemented.
    value = samples >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    seg = _segment(value, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(seg < 2, 1, seg)
    code = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((value >> shift) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


_ALL = np.arange(65536, dtype=np.int32).astype(np.uint16).view(np.int16).astype(np.int32)
ULAW_TO_PCM = _ulaw_decode_table()
ALAW_TO_PCM = _alaw_decode_table()
PCM_TO_ULAW = _ulaw_encode(_ALL)  # indexed by the sample's uint16 bit pattern
PCM_TO_ALAW = _alaw_encode(_ALL)
ULAW_TO_ALAW = PCM_TO_ALAW[ULAW_TO_PCM.view(np.uint16)]
ALAW_TO_ULAW = PCM_TO_ULAW[ALAW_TO_PCM.view(np.uint16)]


# The same two mappings as 256-byte `bytes.translate` tables (the hot path's form).
ULAW_TO_ALAW_TABLE = ULAW_TO_ALAW.tobytes()
ALAW_TO_ULAW_TABLE = ALAW_TO_ULAW.tobytes()

_DECODE = {"pcmu": ULAW_TO_PCM, "pcma": ALAW_TO_PCM}
_ENCODE = {"pcmu": PCM_TO_ULAW, "pcma": PCM_TO_ALAW}
_TRANSCODE = {("pcmu", "pcma"): ULAW_TO_ALAW_TABLE, ("pcma", "pcmu"): ALAW_TO_ULAW_TABLE}


def _unknown(encoding: str) -> ValueError:
    return ValueError(f"unknown G.711 encoding {encoding!r} (expected 'pcmu' or 'pcma')")


@functools.lru_cache(maxsize=32)
def silence(encoding: str, samples: int = FRAME_SAMPLES) -> bytes:
    """Silence in a law (0xFF μ-law, 0xD5 A-law: the codes nearest zero); cached per size."""
    if encoding == "pcmu":
        return bytes([SILENCE_ULAW]) * samples
    if encoding == "pcma":
        return bytes([SILENCE_ALAW]) * samples
    raise _unknown(encoding)


def decode_array(data: bytes, encoding: str) -> npt.NDArray[np.int16]:
    """G.711 bytes → int16 samples (a fresh array, safe to modify)."""
    try:
        table = _DECODE[encoding]
    except KeyError:
        raise _unknown(encoding) from None
    return table[np.frombuffer(data, dtype=np.uint8)]


def encode_samples(samples: npt.NDArray[np.int16], encoding: str) -> bytes:
    """int16 samples (e.g. a mixer's output) → G.711 bytes."""
    try:
        table = _ENCODE[encoding]
    except KeyError:
        raise _unknown(encoding) from None
    return bytes(table[samples.astype("<i2", copy=False).view(np.uint16)].tobytes())


def decode(data: bytes, encoding: str) -> bytes:
    """G.711 bytes → little-endian int16 PCM bytes."""
    return decode_array(data, encoding).astype("<i2", copy=False).tobytes()


def encode(pcm: bytes, encoding: str) -> bytes:
    """Little-endian int16 PCM bytes → G.711 bytes."""
    return encode_samples(np.frombuffer(pcm, dtype="<i2"), encoding)


def transcode(data: bytes, source: str, target: str) -> bytes:
    """μ-law ⇄ A-law in one table lookup; the same law returns `data` itself (no copy)."""
    if source == target:
        if source not in _DECODE:
            raise _unknown(source)
        return data
    try:
        table = _TRANSCODE[source, target]
    except KeyError:
        raise _unknown(source if source not in _DECODE else target) from None
    return data.translate(table)
