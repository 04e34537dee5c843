"""SIP URIs, name-addr values, tags, branches and Call-IDs (RFC 3261 §19.1, §20.10, §8.1.1.7)."""

from __future__ import annotations

import pytest

from yotel.sip.address import NameAddr, SipUri, new_branch, new_call_id, new_tag, uri_headers


def test_full_uri() -> None:
    uri = SipUri.parse("SIP:alice@atlanta.example.com:5070;transport=udp;lr?subject=x")
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sip", "alice", "atlanta.example.com",
                                                          5070)
    assert uri.param("transport") == "udp"
    assert uri.param("lr") == ""
    assert uri.param("maddr") is None
    assert uri.address == ("atlanta.example.com", 5070)
    # URI headers (?...) are dropped: never meaningful in a Request-URI we send (§19.1.5).
    assert str(uri) == "sip:alice@atlanta.example.com:5070;transport=udp;lr"


def test_uri_without_user_or_port_defaults_to_5060() -> None:
    uri = SipUri.parse("sips:10.0.0.1")
    assert (uri.scheme, uri.user, uri.port, uri.address) == ("sips", None, None,
                                                             ("10.0.0.1", 5060))
    assert str(uri) == "sips:10.0.0.1"


def test_ipv6_host() -> None:
    uri = SipUri.parse("sip:+15551234@[2001:db8::1]:5080")
    assert uri.user == "+15551234"
    assert uri.host == "[2001:db8::1]"
    assert uri.address == ("2001:db8::1", 5080)
    assert str(uri) == "sip:+15551234@[2001:db8::1]:5080"
    assert SipUri.parse("sip:[::1]").address == ("::1", 5060)


def test_telephone_subscriber_user_keeps_its_parameters() -> None:
    # What carriers send in the Request-URI (number portability): the ';' before '@' are user.
    text = "sip:+15551234567;npdi;rn=+15550000000@carrier.example;user=phone"
    uri = SipUri.parse(text)
    assert uri.user == "+15551234567;npdi;rn=+15550000000"
    assert (uri.host, uri.param("user")) == ("carrier.example", "phone")
    assert str(uri) == text
    assert uri.number == "+15551234567"
    assert SipUri.parse("sip:100@h").number == "100" and SipUri.parse("sip:h").number is None


def test_user_with_password_keeps_last_at() -> None:
    uri = SipUri.parse("sip:user:pw@host")
    assert (uri.user, uri.host) == ("user:pw", "host")


def test_with_user() -> None:
    uri = SipUri.parse("sip:trunk.example:5060")
    assert str(uri.with_user("123")) == "sip:123@trunk.example:5060"


@pytest.mark.parametrize("text", [
    "tel:+15551234", "alice@example.com", "sip:", "sip:user@", "sip:h:0", "sip:h:99999",
    "sip:h:abc", "sip:[::1", "", "sip:a b@h", "sip:a\r\nVia: x@h", "sip:a@h\x00", "sip:a@h\x7f",
])
def test_bad_uris(text: str) -> None:
    with pytest.raises(ValueError):
        SipUri.parse(text)


def test_name_addr_with_display_and_params() -> None:
    value = NameAddr.parse('"Alice Smith" <sip:alice@a.example;transport=udp>;tag=88sja8x;x')
    assert value.display == "Alice Smith"
    assert value.uri.param("transport") == "udp"
    assert value.tag == "88sja8x"
    assert dict(value.params)["x"] is None
    assert str(value) == '"Alice Smith" <sip:alice@a.example;transport=udp>;tag=88sja8x;x'


def test_unquoted_display_name() -> None:
    value = NameAddr.parse("sipp <sip:sipp@127.0.0.1:47123>;tag=18728SIPpTag001")
    assert (value.display, value.tag) == ("sipp", "18728SIPpTag001")


def test_addr_spec_params_belong_to_the_header() -> None:
    # RFC 3261 §20.10: without <>, ";tag" is a header parameter, not a URI parameter.
    value = NameAddr.parse("sip:bob@b.example;tag=abc")
    assert value.uri == SipUri.parse("sip:bob@b.example")
    assert value.tag == "abc"
    assert str(value) == "<sip:bob@b.example>;tag=abc"


def test_with_tag_replaces_existing() -> None:
    value = NameAddr.parse("<sip:a@b>;tag=old;foo=1")
    assert value.with_tag("new").tag == "new"
    assert str(value.with_tag("new")) == "<sip:a@b>;foo=1;tag=new"
    assert NameAddr.parse("<sip:a@b>").tag is None


@pytest.mark.parametrize("text", ["<sip:a@b", "Bob <1>", "nonsense", "\"open <sip:a@b>",
                                  "<:x>", "<1tel:x>", "<tel:a b>"])
def test_bad_name_addr(text: str) -> None:
    with pytest.raises(ValueError):
        NameAddr.parse(text)


@pytest.mark.parametrize("text,display", [
    ('"Bob <boss>, Esq." <sip:bob@x>;tag=1', "Bob <boss>, Esq."),
    ('"say \\"hi\\"" <sip:a@b>', 'say \\"hi\\"'),
    ('"ends in a quote \\"" <sip:a@b>', 'ends in a quote \\"'),
    ('"" <sip:a@b>', None),
])
def test_quoted_display_names_may_hold_brackets_and_escapes(text: str,
                                                            display: str | None) -> None:
    # RFC 3261 §25.1 quoted-string: '<', '>', ',' and escaped quotes are all text in there.
    addr = NameAddr.parse(text)
    assert addr.display == display and addr.uri.host in ("x", "b")
    assert NameAddr.parse(str(addr)) == addr


def test_generated_identifiers_are_unique_and_well_formed() -> None:
    branches = {new_branch() for _ in range(200)}
    assert len(branches) == 200
    assert all(b.startswith("z9hG4bK") and len(b) > 16 for b in branches)
    assert len({new_tag() for _ in range(200)}) == 200
    call_id = new_call_id("10.1.2.3")
    assert call_id.endswith("@10.1.2.3") and len(call_id) > 20


def test_quote_display_escapes_quotes_and_backslashes() -> None:
    from yotel.sip.address import quote_display

    addr = NameAddr(SipUri.parse("sip:a@b"), quote_display('say "hi" \\ bye'))
    assert str(addr) == '"say \\"hi\\" \\\\ bye" <sip:a@b>'
    assert NameAddr.parse(str(addr)) == addr


@pytest.mark.parametrize("text,scheme,user,uri", [
    ("<tel:+15551234567;phone-context=example.com>;tag=9", "tel", "+15551234567",
     "tel:+15551234567;phone-context=example.com"),
    ("<http://www.example.com>;tag=3234233", "http", "//www.example.com", "http://www.example.com"),
    ("isbn:2983792873", "isbn", "2983792873", "isbn:2983792873"),
    ('"Bob" <urn:service:sos>', "urn", "service:sos", "urn:service:sos"),
])
def test_other_uri_schemes_parse_in_name_addr(text: str, scheme: str, user: str,
                                              uri: str) -> None:
    # RFC 3261 §20.10 / RFC 4475 §3.3.4: From and To may carry any absoluteURI.
    addr = NameAddr.parse(text)
    assert (addr.uri.scheme, addr.uri.user, str(addr.uri)) == (scheme, user, uri)
    assert not addr.uri.is_sip and addr.uri.number == user
    with pytest.raises(ValueError):
        addr.uri.address  # noqa: B018 - nothing to send a SIP request to


def test_a_user_part_may_hold_a_question_mark_and_the_headers_follow_the_host() -> None:
    uri = SipUri.parse("sip:crazy?,/;;*:pw@example.com;lr?Route=%3Csip:x%3E")
    assert (uri.user, uri.host, uri.param("lr")) == ("crazy?,/;;*:pw", "example.com", "")
    assert uri_headers("sip:crazy?,/;;*:pw@example.com;lr?Route=x") == "Route=x"
    assert uri_headers("sip:a?b@example.com") == "" and uri_headers("sip:h?x=1") == "x=1"
