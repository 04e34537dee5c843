"""Prompts and music on hold: fetch WAV/MP3 over http(s), decode to 8 kHz mono PCM16, play in
20 ms frames.

Fetching is SSRF-safe (PRODUCT.md `YOTEL_ALLOW_INSECURE_URLS`): the scheme must be https (http
only with `allow_insecure`), the host is resolved once by `yotel.net.guard.resolve_public` and we
connect to that very address (the Host header and TLS SNI/certificate check keep the name), so a
DNS answer cannot swap in an internal host between the check and the connect. Redirects are
followed by hand, each hop checked the same way. Size and time are capped.

Decoding is miniaudio's (any rate and channel count → mono 8 kHz), run in a worker thread so a
long MP3 does not stall the media clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
import miniaudio

from yotel.domain.audio import PCM_FRAME_BYTES as FRAME_BYTES
from yotel.domain.audio import SAMPLE_RATE as RATE
from yotel.net.guard import check_url_for_save, resolve_public

MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT_S = 10.0


class AudioFetchError(Exception):
    """The audio could not be fetched (network, status, size, time) or decoded."""


@dataclass(frozen=True)
class FetchLimits:
    allow_insecure: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout_s: float = DEFAULT_TIMEOUT_S


async def fetch_audio(url: str, limits: FetchLimits = FetchLimits()) -> bytes:
    """The file's bytes. Raises `UnsafeUrlError` (a ValueError) for a refused URL or host and
    `AudioFetchError` for everything else."""
    try:
        async with asyncio.timeout(limits.timeout_s), httpx.AsyncClient(
                timeout=limits.timeout_s, follow_redirects=False, trust_env=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                body, location = await _get_pinned(client, url, limits)
                if location is None:
                    return body
                url = urljoin(url, location)
    except TimeoutError as exc:
        raise AudioFetchError(f"fetching audio took longer than {limits.timeout_s} s") from exc
    except httpx.HTTPError as exc:
        raise AudioFetchError(f"fetching audio failed: {exc}") from exc
    raise AudioFetchError(f"more than {MAX_REDIRECTS} redirects")


async def _get_pinned(client: httpx.AsyncClient, url: str,
                      limits: FetchLimits) -> tuple[bytes, str | None]:
    """One GET to the checked address: (body, None) or (b"", redirect location)."""
    check_url_for_save(url, secure_schemes={"https"}, insecure_schemes={"http"},
                       allow_insecure=limits.allow_insecure)
    target = httpx.URL(url)
    address = await resolve_public(target.host, target.port or _default_port(target),
                                   allow_insecure=limits.allow_insecure)
    pinned = target.copy_with(host=address)
    headers = {"Host": target.netloc.decode("ascii"), "Accept": "audio/*"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
    response = await client.send(request, stream=True)
    try:
        if response.is_redirect and "location" in response.headers:
            return b"", response.headers["location"]
        if response.status_code != 200:
            raise AudioFetchError(f"audio URL answered {response.status_code}")
        return await _read_capped(response, limits.max_bytes), None
    finally:
        await response.aclose()


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise AudioFetchError(f"audio is {declared} bytes, over the {max_bytes} limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise AudioFetchError(f"audio is over the {max_bytes} byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_audio(data: bytes) -> bytes:
    """Any WAV/MP3/FLAC/Vorbis miniaudio reads → mono 8 kHz little-endian int16 PCM."""
    try:
        decoded = miniaudio.decode(data, output_format=miniaudio.SampleFormat.SIGNED16,
                                   nchannels=1, sample_rate=RATE)
    except miniaudio.DecodeError as exc:
        raise AudioFetchError(f"not a playable audio file: {exc}") from exc
    return bytes(decoded.samples.tobytes())


async def load_audio(url: str, limits: FetchLimits = FetchLimits()) -> bytes:
    """Fetch and decode: the URL's audio as 8 kHz mono PCM16."""
    data = await fetch_audio(url, limits)
    return await asyncio.to_thread(decode_audio, data)


class AudioPlayer:
    """A frame source over decoded PCM: `read_frame()` gives 20 ms per call, None at the end.

    With `loop=True` (music on hold) it never ends: the audio wraps around without a gap, the
    frame that crosses the end taking its tail from the start.
    """

    def __init__(self, pcm: bytes, *, loop: bool = False) -> None:
        if len(pcm) % 2:
            raise ValueError("PCM16 audio has an even number of bytes")
        if loop and not pcm:
            raise ValueError("cannot loop empty audio")
        self._pcm = pcm
        self.loop = loop
        self._position = 0
        self.frames_played = 0

    @classmethod
    async def from_url(cls, url: str, limits: FetchLimits = FetchLimits(), *,
                       loop: bool = False) -> AudioPlayer:
        return cls(await load_audio(url, limits), loop=loop)

    @property
    def duration_s(self) -> float:
        return len(self._pcm) / (2 * RATE)

    @property
    def finished(self) -> bool:
        return not self.loop and self._position >= len(self._pcm)

    def read_frame(self) -> bytes | None:
        pcm, start = self._pcm, self._position
        if start >= len(pcm) and not self.loop:
            return None
        end = start + FRAME_BYTES
        frame = pcm[start:end]
        if len(frame) < FRAME_BYTES:
            if self.loop:
                while len(frame) < FRAME_BYTES:  # a clip shorter than a frame wraps again
                    frame += pcm[:FRAME_BYTES - len(frame)]
                end %= len(pcm)
            else:
                frame += bytes(FRAME_BYTES - len(frame))  # pad the tail with silence
        self._position = end
        self.frames_played += 1
        return frame

    next_frame = read_frame  # the name in the audio-block docs

    def rewind(self) -> None:
        self._position = 0
