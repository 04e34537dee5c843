"""The media engine's errors as the API's, mapped once, here (STYLE: one error tree, translated
at the boundary). Everything above media that calls a media verb goes through `media_errors`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from yotel.domain.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    SubprotocolMismatch,
    ValidationError,
    YotelError,
)
from yotel.media import errors as media


def to_http(error: media.MediaError) -> YotelError:
    if isinstance(error, media.SubprotocolNotOffered):
        return SubprotocolMismatch(str(error))
    if isinstance(error, media.NoTrunk):
        return ValidationError(str(error))
    if isinstance(error, media.NotFound):
        return NotFound(str(error))
    if isinstance(error, media.PortsExhausted | media.ForkUnavailable):
        return ServiceUnavailable(str(error))
    # CallEnded, LegNotReady, InvalidState, ReinviteRefused: the call's state does not allow it.
    return Conflict(str(error) or "the call's state does not allow this")


@contextlib.contextmanager
def media_errors() -> Iterator[None]:
    try:
        yield
    except media.MediaError as error:
        raise to_http(error) from error
