"""Save-time validation of tenant-supplied URLs, reported as 400 `validation_error`.

Wraps `yotel.net.guard.check_url_for_save` (no DNS at save time; PRODUCT.md §2
`YOTEL_ALLOW_INSECURE_URLS`) and names the offending field in the error details.
"""

from __future__ import annotations

from yotel.domain.errors import ValidationError
from yotel.net.guard import UnsafeUrlError, check_url_for_save

MAX_URL_LENGTH = 2048


def check_ws_url(url: str, *, allow_insecure: bool, field: str) -> str:
    """A voice AI WebSocket URL: `wss://` to a public host (or `ws://`/local when insecure URLs
    are allowed). Returns the URL unchanged."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(field, f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        return check_url_for_save(url, secure_schemes={"wss"}, insecure_schemes={"ws"},
                                  allow_insecure=allow_insecure)
    except UnsafeUrlError as exc:
        raise _invalid(field, str(exc)) from exc
    except ValueError as exc:  # urlsplit rejects e.g. a malformed IPv6 literal or bad port
        raise _invalid(field, f"malformed URL: {exc}") from exc


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}",
                           details=[{"loc": ["body", field], "msg": message, "type": "url"}])
