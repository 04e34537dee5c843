"""The media engine's one error tree. Media raises these; the layer above maps them to HTTP
once (`yotel.calls.errors`), so nothing above media inspects a SIP status or a socket error."""

from __future__ import annotations


class MediaError(Exception):
    """Base of every error the media engine raises on purpose."""


class CallEnded(MediaError):  # noqa: N818 - reads as the condition
    """The call has ended; no verb can act on it any more."""


class LegNotReady(MediaError):  # noqa: N818
    """The verb needs an answered leg (a dialog and negotiated media), and this one is not."""


class InvalidState(MediaError):  # noqa: N818
    """The verb does not fit the call's state (e.g. unhold while not held, a second conference)."""


class ReinviteRefused(MediaError):  # noqa: N818
    """The peer refused (or never answered) our re-INVITE; the leg's media is unchanged."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__(f"re-INVITE refused: {status} {reason}".strip())
        self.status = status
        self.reason = reason


class ForkUnavailable(MediaError):  # noqa: N818
    """The voice AI's WebSocket could not be opened (or is not attached)."""


class SubprotocolNotOffered(MediaError):  # noqa: N818
    """The agent's subprotocol is not one this media node offers (424 upstream)."""

    def __init__(self, subprotocol: str) -> None:
        super().__init__(f"this media node does not offer subprotocol {subprotocol!r}")
        self.subprotocol = subprotocol


class NoTrunk(MediaError):  # noqa: N818
    """A number was dialled, but no SIP trunk was given and the node has no default."""


class PortsExhausted(MediaError):  # noqa: N818
    """No RTP port is free on this node."""


class NotFound(MediaError):  # noqa: N818
    """A member, fork or tap the verb names is not there."""
