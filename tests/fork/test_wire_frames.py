"""The fork's own client framing (fork/connection.py `client_frame`): what websockets, as the
server, reads back, for every length encoding, with a fresh masking key per frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from yotel.fork.connection import MaskingKeys, client_frame


def server_reads(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=True)  # a server expects masked frames
    try:
        next(parser)
    except StopIteration as done:
        assert not reader.buffer  # it used every byte
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 160, 65535, 65536, 70000])
def test_every_length_encoding_reads_back(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = server_reads(client_frame(data))
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, data)
    text = server_reads(client_frame(b'{"event":"x"}', text=True))
    assert (text.opcode, text.data) == (Opcode.TEXT, b'{"event":"x"}')


@given(st.binary(max_size=300))
def test_any_payload_reads_back(data: bytes) -> None:
    assert server_reads(client_frame(data)).data == data


def test_each_frame_gets_a_fresh_key_and_the_pool_refills() -> None:
    keys = MaskingKeys(bulk=16)  # four keys a read
    drawn = [keys.next() for _ in range(12)]
    assert all(len(k) == 4 for k in drawn) and len(set(drawn)) >= 11
    first, second = client_frame(b"\x00" * 100), client_frame(b"\x00" * 100)
    assert first[2:6] != second[2:6]  # the key follows the 2-byte header (under 126 bytes)
    assert first[6:] == first[2:6] * 25  # zeros masked are the key, repeated
