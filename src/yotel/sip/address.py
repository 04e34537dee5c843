"""SIP URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1). No I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class SipUri:
    user: str | None
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    scheme: str = "sip"

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, sep, rest = text.partition(":")
        if not sep or scheme.lower() not in ("sip", "sips"):
            raise ValueError(f"not a SIP URI: {text[:60]!r}")
        _refuse_blanks(text)
        # The user part may carry ';' itself (telephone-subscriber: `+1555;npdi;rn=...@gw`),
        # and '?' too (RFC 4475 §3.1.1.2), so it ends at the '@', which neither userinfo,
        # parameters nor headers may hold unescaped (§25.1); the headers follow the host.
        user, at, hostpart = rest.partition("@")
        if not at:
            user, hostpart = "", rest
        hostport, *raw_params = hostpart.split("?", 1)[0].split(";")
        host, port = _split_hostport(hostport)
        params = tuple(_param(p) for p in raw_params if p)
        return cls(user if at else None, host, port, params, scheme.lower())

    @classmethod
    def parse_any(cls, text: str) -> SipUri:
        """A SIP or SIPS URI as `parse`, or any other absoluteURI (`tel:`, `http:`, `urn:`...,
        RFC 3261 §20.10, §25.1) kept opaque: host empty, the part before its first ';' as
        `user` (so `number` reads `tel:+1555;phone-context=x` as `+1555`). ValueError when it
        is no URI at all (no scheme, whitespace or controls)."""
        text = text.strip()
        scheme, sep, rest = text.partition(":")
        if scheme.lower() in ("sip", "sips"):
            return cls.parse(text)
        if not sep or not rest or not is_scheme(scheme):
            raise ValueError(f"not a URI: {text[:60]!r}")
        _refuse_blanks(text)
        opaque, *raw_params = rest.split(";")
        return cls(opaque, "", None, tuple(_param(p) for p in raw_params if p), scheme.lower())

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    def param(self, name: str) -> str | None:
        return next((v or "" for k, v in self.params if k == name.lower()), None)

    @property
    def number(self) -> str | None:
        """The user part without telephone-subscriber parameters (RFC 3966 §3): `+15551234567`
        of `sip:+15551234567;npdi@gw`, what a DID lookup matches."""
        return self.user.split(";", 1)[0] if self.user is not None else None

    @property
    def address(self) -> tuple[str, int]:
        if not self.is_sip:
            raise ValueError(f"a {self.scheme}: URI has no SIP address")
        return self.host.strip("[]"), self.port or 5060

    def with_user(self, user: str | None) -> SipUri:
        return replace(self, user=user)

    def __str__(self) -> str:
        params = "".join(f";{k}" + (f"={v}" if v is not None else "") for k, v in self.params)
        if not self.is_sip:
            return f"{self.scheme}:{self.user or ''}{params}"
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.scheme}:{user}{self.host}{port}{params}"


_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.")


def is_scheme(text: str) -> bool:
    """§25.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )."""
    return bool(text) and text[0].isascii() and text[0].isalpha() and set(text) <= _SCHEME_CHARS


def uri_headers(text: str) -> str:
    """The `?headers` part of a URI (after the host: '?' may sit in a user part), or ''."""
    rest = text.strip().partition(":")[2]
    _, at, hostpart = rest.partition("@")
    return (hostpart if at else rest).partition("?")[2]


def _refuse_blanks(text: str) -> None:
    # §25.1: no whitespace or control characters in a URI; refusing them here also keeps a
    # number or caller ID from an API from injecting SIP lines.
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
        raise ValueError(f"whitespace or control character in URI {text[:60]!r}")


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad IPv6 host {text!r}")
        host, rest = text[: end + 1], text[end + 1:]
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise ValueError("SIP URI has no host")
    if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise ValueError(f"bad port {port_text!r}")
    return host, int(port_text) if port_text else None


def _param(text: str) -> tuple[str, str | None]:
    key, sep, value = text.partition("=")
    return key.strip().lower(), value.strip() if sep else None


@dataclass(frozen=True)
class NameAddr:
    """`"Display" <sip:uri>;tag=x` as used in From, To, Contact, Route. The URI may have any
    scheme (`<tel:+1555>`, `<http://...>`: §20.10); where a SIP address is needed, `uri.address`
    refuses the others with ValueError."""

    uri: SipUri
    display: str | None = None
    params: tuple[tuple[str, str | None], ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        # A quoted display name may itself hold '<' or '>' (§25.1 quoted-string).
        lt = text.find("<", _quoted_end(text))
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise ValueError(f"unterminated <uri> in {text[:60]!r}")
            raw = text[:lt].strip()
            display = (raw[1:-1] if raw.startswith('"') else raw) or None
            uri, tail = SipUri.parse_any(text[lt + 1:gt]), text[gt + 1:]
        else:
            # Without brackets, ';' params belong to the header, not the URI (§20.10).
            bare, _, tail = text.partition(";")
            display, uri, tail = None, SipUri.parse_any(bare), ";" + tail if tail else ""
        params = tuple(_param(p) for p in tail.split(";") if p.strip())
        return cls(uri, display, params)

    @property
    def tag(self) -> str | None:
        return next((v for k, v in self.params if k == "tag"), None)

    def with_tag(self, tag: str) -> NameAddr:
        rest = tuple((k, v) for k, v in self.params if k != "tag")
        return replace(self, params=(*rest, ("tag", tag)))

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}" + (f"={v}" if v is not None else "") for k, v in self.params)
        return f"{display}<{self.uri}>{params}"


def quote_display(text: str) -> str:
    """A display name as it goes between the quotes of a name-addr (§25.1 quoted-pair).
    ValueError for CR, LF or NUL, which no quoting may carry."""
    if any(ch in text for ch in "\r\n\0"):
        raise ValueError(f"line break in display name {text[:60]!r}")
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _quoted_end(text: str) -> int:
    """Index just past a leading quoted-string (backslash escapes honoured), else 0."""
    if not text.startswith('"'):
        return 0
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    raise ValueError(f"unterminated quoted display name in {text[:60]!r}")


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    # RFC 3261 §8.1.1.7: the magic cookie marks a branch unique across space and time.
    return "z9hG4bK" + secrets.token_hex(10)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"
