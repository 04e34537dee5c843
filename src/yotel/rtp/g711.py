"""G.711 μ-law / A-law ⇄ 16-bit linear PCM through numpy lookup tables (ITU-T G.711).

Decoding is one 256-entry table lookup per sample; encoding one 65536-entry lookup on the
sample's bit pattern; both are vectorised, never a Python loop per sample.
"""

from __future__ import annotations

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


def silence(encoding: str, samples: int = FRAME_SAMPLES) -> bytes:
    return bytes([SILENCE_ULAW if encoding == "pcmu" else SILENCE_ALAW]) * samples


def decode(data: bytes, encoding: str) -> bytes:
    """G.711 bytes → little-endian int16 PCM bytes."""
    table = ULAW_TO_PCM if encoding == "pcmu" else ALAW_TO_PCM
    return table[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def encode(pcm: bytes, encoding: str) -> bytes:
    """Little-endian int16 PCM bytes → G.711 bytes."""
    table = PCM_TO_ULAW if encoding == "pcmu" else PCM_TO_ALAW
    return table[np.frombuffer(pcm, dtype="<i2").view(np.uint16)].tobytes()


def transcode(data: bytes, source: str, target: str) -> bytes:
    if source == target:
        return data
    table = ULAW_TO_ALAW if source == "pcmu" else ALAW_TO_ULAW
    return table[np.frombuffer(data, dtype=np.uint8)].tobytes()
