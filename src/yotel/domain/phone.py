"""Phone numbers and SIP addresses as the API accepts them, each as one regular expression that
`/openapi.json` states (a field's `pattern`) and the server enforces as written, so a
schema-driven client never sends a value the server refuses.

- E.164 (ITU-T E.164 §6: a country code, at most 15 digits in all), written `+` then 8 to 15
  digits, the first not zero. No spaces, dashes or national formats: a number the API stores is
  one the dialer can put in a Request-URI as is.
- A caller ID goes into `From: <sip:<caller_id>@host>` (PRODUCT.md §8): digits, optionally after
  `+`, so it can never carry SIP syntax.
- A host (RFC 1123 §2.1 name, IPv4 or IPv6 literal) and a `sip:`/`sips:` URI with a host
  (RFC 3261 §19.1, §25.1). The URI grammar is a conservative subset of §25.1 (unescaped user
  characters, `;name=value` parameters, no headers), every string of which
  `yotel.sip.address.SipUri` parses with a host.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StrictStr

from yotel.domain.errors import ValidationError

E164_RE = r"\+[1-9][0-9]{7,14}"
CALLER_ID_RE = r"\+?[0-9]{1,20}"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HEX = "[0-9A-Fa-f]{1,4}"
# RFC 4291 §2.2 text forms without an embedded IPv4 part or a zone.
_IPV6 = "(?:" + "|".join([
    f"(?:{_HEX}:){{7}}{_HEX}",
    f"(?:{_HEX}:){{1,7}}:",
    *(f"(?:{_HEX}:){{1,{7 - n}}}(?::{_HEX}){{1,{n}}}" for n in range(1, 7)),
    f":(?::{_HEX}){{1,7}}",
    "::",
]) + ")"
HOST_NAME_RE = f"(?:{_LABEL}\\.)*{_LABEL}\\.?"
HOST_RE = f"(?:{HOST_NAME_RE}|{_IPV6}|\\[{_IPV6}\\])"
_PORT = ("(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}"
         "|[1-9][0-9]{0,3}))?")
_USER = "(?:[A-Za-z0-9_.!~*'()&=+$,;?/-]|%[0-9A-Fa-f]{2})+"
_PARAM = "(?:;[A-Za-z0-9_.!~*'()-]+(?:=[A-Za-z0-9_.!~*'()\\[\\]/:&+$-]+)?)"
SIP_URI_RE = f"sips?:(?:{_USER}@)?(?:{HOST_NAME_RE}|\\[{_IPV6}\\]){_PORT}{_PARAM}*"


def anchored(*alternatives: str) -> str:
    """A JSON Schema `pattern` matching exactly one of `alternatives` (ECMA-262 and Python
    read these the same way: ASCII classes, no lookaround)."""
    return "^(?:" + "|".join(alternatives) + ")$"


E164 = re.compile(E164_RE)
CALLER_ID = re.compile(CALLER_ID_RE)

E164Str = Annotated[StrictStr, Field(pattern=anchored(E164_RE), max_length=16,
                                     description="E.164: `+` then 8 to 15 digits")]
CallerIdStr = Annotated[StrictStr, Field(pattern=anchored(CALLER_ID_RE), max_length=21,
                                         description="digits, optionally after `+`")]
HostStr = Annotated[StrictStr, Field(pattern=anchored(HOST_RE), min_length=1, max_length=253,
                                     description="host name (RFC 1123) or IP literal")]
SipUriStr = Annotated[StrictStr, Field(pattern=anchored(SIP_URI_RE), max_length=512,
                                       description="`sip:`/`sips:` URI with a host")]
ContactStr = Annotated[StrictStr, Field(pattern=anchored(E164_RE, SIP_URI_RE), max_length=512,
                                        description="E.164 number or `sip:`/`sips:` URI")]


def is_e164(value: object) -> bool:
    return isinstance(value, str) and E164.fullmatch(value) is not None


def check_e164(value: str, *, field: str) -> str:
    """`value` unchanged, or 400 naming `field`."""
    if not is_e164(value):
        message = "must be E.164: '+' then 8 to 15 digits, the first not 0"
        raise ValidationError(f"{field}: {message}",
                              details=[{"loc": ["body", field], "msg": message, "type": "e164"}])
    return value


def did_digits(value: str) -> str:
    """The digits of a number, for matching a Request-URI user part with or without `+`."""
    return value.removeprefix("+")


def check_caller_id(value: str, *, field: str = "caller_id") -> str:
    if CALLER_ID.fullmatch(value) is None:
        message = "must be digits, optionally after '+' (at most 20)"
        raise ValidationError(f"{field}: {message}", details=[
            {"loc": ["body", field], "msg": message, "type": "caller_id"}])
    return value
