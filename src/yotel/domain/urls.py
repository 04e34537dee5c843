"""Save-time validation of tenant-supplied URLs, reported as 400 `validation_error`.

Two layers, both enforced here and the first also documented in `/openapi.json`:
- a grammar (`url_pattern`): the scheme, a host name (in production a DNS name with an
  alphabetic top-level domain, so no IP literal and no `localhost`), an optional port 1..65535,
  a path and a query of RFC 3986 characters, no fragment, no `user:password@`, and no query
  parameter that carries a credential (`?token=`, `?access_token=`, `?key=`, ...: such a URL
  would be echoed in every read of the resource; the credential belongs in `auth_token`);
- `yotel.net.guard.check_url_for_save` (no DNS at save time; PRODUCT.md §2
  `YOTEL_ALLOW_INSECURE_URLS`).
Fields typed `WsUrl` carry `URL_KIND_KEY` in their JSON schema; `yotel.api.openapi` swaps it for
the pattern of the app's URL policy. Messages never quote the URL (it may hold a secret).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated

from pydantic import Field, StrictStr

from yotel.domain.errors import ValidationError
from yotel.net.guard import SECRET_QUERY_NAMES, UnsafeUrlError, check_url_for_save

MAX_URL_LENGTH = 2048
URL_KIND_KEY = "x-yotel-url"

WsUrl = Annotated[StrictStr, Field(min_length=1, max_length=MAX_URL_LENGTH,
                                   json_schema_extra={URL_KIND_KEY: "ws"})]

# Webhook endpoint URLs (`https`), same rules.
HttpUrl = Annotated[StrictStr, Field(min_length=1, max_length=MAX_URL_LENGTH,
                                     json_schema_extra={URL_KIND_KEY: "http"})]

_SCHEMES = {"ws": ("wss", "ws"), "http": ("https", "http")}  # kind → (secure, insecure scheme)


def _ci(word: str) -> str:
    """`word` as a case-insensitive pattern without flags (JSON Schema has none)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_END_OF_HOST = "(?:[:/?]|$)"
_PUBLIC_HOST = (
    f"(?!(?:[^/?#:]*\\.)?{_ci('localhost')}{_END_OF_HOST})"
    f"(?!{_ci('localhost.localdomain')}{_END_OF_HOST})"
    f"(?:{_LABEL}\\.)+[A-Za-z]{{2,63}}")
_ANY_HOST = f"(?:(?:{_LABEL}\\.)*{_LABEL}|\\[::1\\])"
_PORT = ("(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
         "|[1-9][0-9]{0,3}))?")
_ESCAPED = "%[0-9A-Fa-f]{2}"
_PATH = f"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|{_ESCAPED})*)*"
_SECRET = "(?:" + "|".join(_ci(name) for name in sorted(SECRET_QUERY_NAMES)) + ")"
_PARAM = (f"(?!{_SECRET}(?:[=&]|$))[A-Za-z0-9._~-]+"
          f"(?:=(?:[A-Za-z0-9._~!$'()*+,;=:@/?-]|{_ESCAPED})*)?")
_QUERY = f"(?:\\?{_PARAM}(?:&{_PARAM})*)?"


@cache
def url_pattern(kind: str, *, allow_insecure: bool) -> str:
    """The grammar of a `kind` URL ("ws") under the URL policy, as a JSON Schema pattern."""
    secure, insecure = _SCHEMES[kind]
    if allow_insecure:
        return f"^(?:{secure}|{insecure})://{_ANY_HOST}{_PORT}{_PATH}{_QUERY}$"
    return f"^{secure}://{_PUBLIC_HOST}{_PORT}{_PATH}{_QUERY}$"


@cache
def _compiled(kind: str, allow_insecure: bool) -> re.Pattern[str]:
    return re.compile(url_pattern(kind, allow_insecure=allow_insecure))


def check_ws_url(url: str, *, allow_insecure: bool, field: str) -> str:
    """A voice AI WebSocket URL: `wss://` to a public host name (or `ws://`/local when insecure
    URLs are allowed). Returns the URL unchanged."""
    return check_tenant_url(url, "ws", allow_insecure=allow_insecure, field=field)


def check_tenant_url(url: str, kind: str, *, allow_insecure: bool, field: str) -> str:
    """A tenant URL of `kind` ("ws" or "http"): the secure scheme to a public host name (or the
    insecure one / local hosts when insecure URLs are allowed). Returns the URL unchanged."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(field, f"URL longer than {MAX_URL_LENGTH} characters")
    secure, insecure = _SCHEMES[kind]
    try:
        check_url_for_save(url, secure_schemes={secure}, insecure_schemes={insecure},
                           allow_insecure=allow_insecure)
    except UnsafeUrlError as exc:
        raise _invalid(field, str(exc)) from exc
    except ValueError as exc:  # urlsplit rejects e.g. a malformed IPv6 literal or bad port
        raise _invalid(field, "malformed URL") from exc
    if _compiled(kind, allow_insecure).fullmatch(url) is None:
        host = "a host name" if allow_insecure else "a public DNS name (no IP literal)"
        raise _invalid(field, f"URL must be {secure}://, {host}, an optional port, and a path "
                              "and query of URL characters (see the schema's pattern)")
    return url


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(f"{field}: {message}",
                           details=[{"loc": ["body", field], "msg": message, "type": "url"}])
