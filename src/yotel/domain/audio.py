"""Audio constants said once: the frame, the laws, their silence, the fork's subprotocols.

On the wire (RTP and the audio fork) audio is G.711 at 8 kHz in 20 ms frames (PRODUCT.md §6);
inside (mixing, prompts, recording) it is 16-bit little-endian linear PCM at the same rate.
Every module that needs one of these values imports it from here.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Encoding = Literal["pcmu", "pcma"]
ENCODINGS: Final[tuple[Encoding, ...]] = get_args(Encoding)

SAMPLE_RATE: Final = 8000
FRAME_MS: Final = 20
FRAME_S: Final = FRAME_MS / 1000
FRAME_SAMPLES: Final = SAMPLE_RATE * FRAME_MS // 1000  # 160
G711_FRAME_BYTES: Final = FRAME_SAMPLES  # one byte per sample
PCM_FRAME_BYTES: Final = FRAME_SAMPLES * 2  # int16

SILENCE_BYTE: Final[dict[Encoding, int]] = {"pcmu": 0xFF, "pcma": 0xD5}
SILENT_PCM_FRAME: Final = bytes(PCM_FRAME_BYTES)

DRACHTIO_SUBPROTOCOL: Final = "audio.drachtio.org"
JAMBONZ_SUBPROTOCOL: Final = "audio.jambonz.org"
SUBPROTOCOLS: Final = (DRACHTIO_SUBPROTOCOL, JAMBONZ_SUBPROTOCOL)


def silent_frame(encoding: Encoding, samples: int = FRAME_SAMPLES) -> bytes:
    """G.711 silence of `samples` samples in `encoding`."""
    return bytes([SILENCE_BYTE[encoding]]) * samples


def as_encoding(value: str) -> Encoding:
    """`value` as an Encoding (ValueError for anything but pcmu/pcma, any case)."""
    lowered = value.lower()
    if lowered == "pcmu":
        return "pcmu"
    if lowered == "pcma":
        return "pcma"
    raise ValueError(f"unknown G.711 encoding {value!r}")
