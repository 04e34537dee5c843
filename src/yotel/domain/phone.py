"""Phone numbers as the API accepts them: strict E.164 (ITU-T E.164 §6: a country code, at most
15 digits in all), written `+` then 8 to 15 digits, the first not zero. No spaces, dashes or
national formats: a number the API stores is one the dialer can put in a Request-URI as is."""

from __future__ import annotations

import re

from yotel.domain.errors import ValidationError

E164 = re.compile(r"\+[1-9][0-9]{7,14}")


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


# A caller ID goes into `From: <sip:<caller_id>@host>` (PRODUCT.md §8): digits, optionally
# after '+', so it can never carry SIP syntax.
CALLER_ID = re.compile(r"\+?[0-9]{1,20}")


def check_caller_id(value: str, *, field: str = "caller_id") -> str:
    if CALLER_ID.fullmatch(value) is None:
        message = "must be digits, optionally after '+' (at most 20)"
        raise ValidationError(f"{field}: {message}", details=[
            {"loc": ["body", field], "msg": message, "type": "caller_id"}])
    return value
