"""The address grammars `/openapi.json` states (`yotel.domain.phone`) are ones the server's own
parsers accept: every string a schema-driven client may generate from the pattern is taken."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from yotel.domain.phone import (
    E164_RE,
    HOST_RE,
    SIP_URI_RE,
    ContactStr,
    HostStr,
    anchored,
    is_e164,
)
from yotel.flows.nodes import check_sip_uri
from yotel.sip.address import SipUri

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(anchored(SIP_URI_RE), fullmatch=True).filter(lambda s: len(s) <= 512))
def test_every_sip_uri_of_the_pattern_parses_with_a_host(uri: str) -> None:
    assert check_sip_uri(uri) == uri and SipUri.parse(uri).host
    assert TypeAdapter(ContactStr).validate_python(uri) == uri


@settings(max_examples=300, deadline=None)
@given(st.from_regex(anchored(HOST_RE), fullmatch=True).filter(lambda s: len(s) <= 253))
def test_every_host_of_the_pattern_is_a_name_or_an_ip_literal(host: str) -> None:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        assert all(_LABEL.fullmatch(label) for label in host.rstrip(".").split("."))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(anchored(E164_RE), fullmatch=True))
def test_e164_pattern_is_the_e164_check(number: str) -> None:
    assert is_e164(number) and TypeAdapter(ContactStr).validate_python(number) == number


@pytest.mark.parametrize("value", ["sip:a@b c", "sip:@host", "tel:+14155550100", "sip:a@-x",
                                   "+0155550100", "sip:a@host:0", "sip:a@host:65536",
                                   "sip:a@[1::2::3]", "sip:a@host?x=1"])
def test_contacts_outside_the_grammar_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(ContactStr).validate_python(value)


@pytest.mark.parametrize("host", ["bad host", "-x.example", "[::1", "a..b", "x" * 254])
def test_hosts_outside_the_grammar_are_refused(host: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(HostStr).validate_python(host)
