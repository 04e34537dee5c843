"""SSRF guard for tenant-supplied URLs (PRODUCT.md §2, `YOTEL_ALLOW_INSECURE_URLS`).

Two checks, at two moments:
- on save (`check_url_for_save`): the scheme must be the secure one, the host must not be
  `localhost` or a literal loopback/private/link-local address, and the URL must carry no
  credential (`user:password@`, or a query parameter named like `SECRET_QUERY_NAMES`): a tenant
  URL is shown back on every read, so a secret inside it would be echoed; secrets go in the
  resource's write-only secret fields. No DNS lookup here: a name that resolves somewhere bad
  today may be fine tomorrow, and saving must not block on DNS. Messages never quote the URL.
- on connect (`resolve_public`): the name is resolved and every address is checked, and the caller
  connects to the returned address, so a DNS answer cannot swap in an internal host afterwards.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import SplitResult, parse_qsl, urlsplit

# Query parameters that carry credentials by convention (OAuth 2.0 `access_token`, RFC 6750 §2.3;
# API keys; signatures), compared case-insensitively.
SECRET_QUERY_NAMES = frozenset({
    "token", "access_token", "auth_token", "id_token", "refresh_token", "api_key", "apikey",
    "key", "password", "passwd", "pwd", "secret", "client_secret", "signature", "sig", "jwt",
    "auth", "authorization", "credentials",
})

_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class UnsafeUrlError(ValueError):
    """The URL is refused: wrong scheme, or it points at a non-public host."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for loopback, private, etc."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def check_url_for_save(url: str, *, secure_schemes: Collection[str], insecure_schemes:
                       Collection[str], allow_insecure: bool) -> str:
    """Validate a URL at save time and return it unchanged; raise `UnsafeUrlError` if refused.

    `secure_schemes` are always accepted (e.g. {"wss"}); `insecure_schemes` (e.g. {"ws"}) only
    when `allow_insecure`. Local hosts are refused unless `allow_insecure`.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    allowed = set(secure_schemes) | (set(insecure_schemes) if allow_insecure else set())
    if scheme not in allowed:
        wanted = " or ".join(sorted(allowed))
        raise UnsafeUrlError(f"URL scheme must be {wanted}")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrlError("URL has no host")
    refuse_credentials(parts)
    if allow_insecure:
        return url
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        raise UnsafeUrlError("URL host is local")
    literal = _literal_ip(host)
    if literal is not None and not is_public_address(literal):
        raise UnsafeUrlError("URL host is not a public address")
    return url


def refuse_credentials(parts: SplitResult) -> None:
    """Raise `UnsafeUrlError` when the URL carries a credential (see the module docstring)."""
    if "@" in parts.netloc:
        raise UnsafeUrlError("URL must not carry credentials (user:password@): use the "
                             "resource's secret field instead")
    names = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    names |= {item.split("=", 1)[0].lower() for item in parts.query.split("&")}
    if names & SECRET_QUERY_NAMES:
        raise UnsafeUrlError("URL must not carry a credential in its query (token, key, ...): "
                             "use the resource's secret field instead")


async def resolve_public(host: str, port: int, *, allow_insecure: bool) -> str:
    """Resolve `host` and return one address to connect to; raise `UnsafeUrlError` if any
    resolved address is non-public (unless `allow_insecure`) or the name does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeUrlError(f"cannot resolve {host!r}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeUrlError(f"cannot resolve {host!r}")
    if not allow_insecure:
        bad = [a for a in addresses if not is_public_address(a)]
        if bad:
            raise UnsafeUrlError(f"{host!r} resolves to a non-public address ({bad[0]})")
    return addresses[0]
