"""Audio routing: what one party hears each tick, chosen from sources by precedence and mixed
only when several must be heard at once. No I/O.

A call has an `Output` toward its caller. Sources feed it in layers; the highest active layer is
heard alone (music on hold > prompt > a bridged peer or a conference mix > the AI), and overlays
(whispers) are mixed on top of it. With one source and no overlay, G.711 passes through without
decoding, so the common call (only the AI talking) costs what it cost before routing existed.

    out = Output("pcmu", on_finished=...)
    out.play(Layer.PROMPT, player)               # a prompt replaces the AI while it lasts
    out.add_overlay("coach", whisper_player)     # heard together with whatever plays
    frame = out.frame(ai=Audio(ai_bytes, "pcmu"), peer=None)   # bytes for the wire, or None
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import IntEnum
from typing import Literal, NamedTuple, Protocol

import numpy as np

from yotel.domain.audio import SILENT_PCM_FRAME, Encoding
from yotel.rtp import g711

Format = Literal["pcmu", "pcma", "pcm16"]


class Audio(NamedTuple):
    """One 20 ms frame and how it is coded: G.711 (160 bytes) or int16 PCM (320 bytes)."""

    data: bytes
    fmt: Format

    def pcm(self) -> bytes:
        return self.data if self.fmt == "pcm16" else g711.decode(self.data, self.fmt)

    def to(self, law: Encoding) -> bytes:
        """The frame in `law`: untouched when it already is, one table lookup otherwise."""
        if self.fmt == law:
            return self.data
        if self.fmt == "pcm16":
            return g711.encode(self.data, law)
        return g711.transcode(self.data, self.fmt, law)


class PcmSource(Protocol):
    """A prompt, music on hold or a whisper: 20 ms of 8 kHz int16 PCM per call, None at its end."""

    def read_frame(self) -> bytes | None: ...


class Layer(IntEnum):
    """Exclusive sources toward a party; the highest active one is heard."""

    AI = 1
    PEER = 2  # a bridged party (relayed on arrival) or the conference mix
    PROMPT = 3
    HOLD = 4  # while held: music, or silence when there is none


Finished = Callable[[str, str], None]  # (what: "prompt" | "whisper", key)


class Output:
    """What one party hears. `frame()` is called once per tick."""

    def __init__(self, law: Encoding, on_finished: Finished | None = None) -> None:
        self.law: Encoding = law
        self._on_finished = on_finished
        self.prompt: PcmSource | None = None
        self.held = False
        self.music: PcmSource | None = None
        self.bridged = False  # a peer is relayed on arrival (no clock)
        self.overlays: dict[str, PcmSource] = {}
        self.ai_muted = False  # "mute agent": the AI is not heard, other sources are

    # -- sources -----------------------------------------------------------------------------
    def play(self, source: PcmSource | None) -> None:
        """A prompt (replaces the AI and a bridged peer while it lasts); None stops it."""
        self.prompt = source

    def hold(self, music: PcmSource | None) -> None:
        self.held, self.music = True, music

    def unhold(self) -> None:
        self.held, self.music = False, None

    def add_overlay(self, key: str, source: PcmSource) -> None:
        self.overlays[key] = source

    def remove_overlay(self, key: str) -> bool:
        return self.overlays.pop(key, None) is not None

    @property
    def top(self) -> Layer:
        if self.held:
            return Layer.HOLD
        if self.prompt is not None:
            return Layer.PROMPT
        return Layer.PEER if self.bridged else Layer.AI

    @property
    def relays_peer(self) -> bool:
        """A bridged peer's packets go straight to the wire on arrival (no mixing needed)."""
        return self.bridged and not self.held and self.prompt is None and not self.overlays

    # -- the tick ------------------------------------------------------------------------------
    def frame(self, ai: Audio | None, peer: Audio | None = None) -> bytes | None:
        """This tick's frame in `self.law`; None when nothing is to be sent by the clock (a
        bridged peer relayed on arrival)."""
        primary = self._primary(ai, peer)
        if self.overlays:
            return self._mix(primary)
        if primary is None:
            return None if self.relays_peer else g711.silence(self.law)
        return primary.to(self.law)

    def _primary(self, ai: Audio | None, peer: Audio | None) -> Audio | None:
        if self.held:
            pcm = self.music.read_frame() if self.music is not None else None
            return Audio(pcm, "pcm16") if pcm is not None else None
        if self.prompt is not None:
            pcm = self.prompt.read_frame()
            if pcm is not None:
                return Audio(pcm, "pcm16")
            self.prompt = None
            self._finished("prompt", "")
        if self.bridged:
            return peer  # None while relayed on arrival
        if peer is not None:  # a conference mix (the AI's voice is in it)
            return peer
        return None if self.ai_muted else ai

    def _mix(self, primary: Audio | None) -> bytes:
        base = primary.pcm() if primary is not None else SILENT_PCM_FRAME
        total = np.frombuffer(base, dtype="<i2").astype(np.int32)
        for key, source in list(self.overlays.items()):
            pcm = source.read_frame()
            if pcm is None:
                del self.overlays[key]
                self._finished("whisper", key)
                continue
            total += np.frombuffer(pcm, dtype="<i2")
        mixed = np.clip(total, -32768, 32767).astype("<i2")
        return g711.encode_samples(mixed, self.law)

    def release(self) -> None:
        """Its call ended: no more end-of-source callbacks to its owner."""
        self._on_finished = None

    def _finished(self, what: str, key: str) -> None:
        if self._on_finished is not None:
            self._on_finished(what, key)


class Tee:
    """One source heard in several outputs (a barging AI heard by both sides of a call): each
    branch reads every frame once, at its own tick; the source is read once per frame."""

    def __init__(self, source: PcmSource) -> None:
        self._source = source
        self._branches: list[_Branch] = []
        self._ended = False

    def branch(self) -> PcmSource:
        branch = _Branch(self)
        self._branches.append(branch)
        return branch

    def _pull(self) -> None:
        frame = None if self._ended else self._source.read_frame()
        if frame is None:
            self._ended = True
        for branch in self._branches:
            branch.pending.append(frame)
            if len(branch.pending) > TEE_BACKLOG:  # a branch that stopped reading
                branch.pending.popleft()


TEE_BACKLOG = 5


class _Branch:
    def __init__(self, tee: Tee) -> None:
        self._tee = tee
        self.pending: deque[bytes | None] = deque()

    def read_frame(self) -> bytes | None:
        if not self.pending:
            self._tee._pull()
        return self.pending.popleft()
