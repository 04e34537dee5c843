"""Digest authentication (RFC 2617, RFC 7616) against the RFCs' own worked examples."""

from __future__ import annotations

import pytest

from yotel.sip.digest import (
    Challenge,
    DigestCredentials,
    answer_challenge,
    authorization,
    may_answer,
    parse_params,
    pick_challenge,
    response_hash,
    verify,
)
from yotel.sip.message import SipResponse, parse_message


def test_rfc_2617_md5_qop_auth_example() -> None:
    # RFC 2617 §3.5.
    assert response_hash("MD5", "Mufasa", "Circle Of Life", "testrealm@host.com", "GET",
                         "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth",
                         "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize("algorithm,expected", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
])
def test_rfc_7616_examples(algorithm: str, expected: str) -> None:
    # RFC 7616 §3.9.1.
    assert response_hash(algorithm, "Mufasa", "Circle of Life", "http-auth@example.org", "GET",
                         "/dir/index.html", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                         "auth", "00000001",
                         "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ") == expected


def test_rfc_2069_style_without_qop() -> None:
    # Without qop: response = H(HA1:nonce:HA2) (RFC 2617 §3.2.2.1), what many trunks still send.
    ha = response_hash("MD5", "u", "p", "r", "INVITE", "sip:1@h", "n", None, "", "")
    assert len(ha) == 32
    assert ha != response_hash("MD5", "u", "p", "r", "INVITE", "sip:1@h", "n", "auth",
                               "00000001", "c")


def test_challenge_parse_defaults_to_md5() -> None:
    challenge = Challenge.parse('Digest realm="sip.example", nonce="abc", opaque="op"')
    assert challenge == Challenge("sip.example", "abc", "MD5", (), "op")


def test_challenge_parse_sha256_with_qop_list() -> None:
    challenge = Challenge.parse('digest realm="r, with comma",nonce="n", algorithm=sha-256, '
                                'qop="auth,auth-int", stale=FALSE')
    assert challenge.algorithm == "SHA-256"
    assert challenge.realm == "r, with comma"
    assert challenge.qop == ("auth", "auth-int")


@pytest.mark.parametrize("header", [
    'Basic realm="x"', 'Digest realm="x"', 'Digest nonce="n"',
    'Digest realm="x", nonce="n", algorithm=SHA-512-256', "",
])
def test_unusable_challenges(header: str) -> None:
    with pytest.raises(ValueError):
        Challenge.parse(header)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
@pytest.mark.parametrize("qop", ["", ', qop="auth"'])
def test_authorization_verifies(algorithm: str, qop: str) -> None:
    challenge = Challenge.parse(f'Digest realm="trunk", nonce="n0nce", algorithm={algorithm}'
                                f', opaque="xyz"{qop}')
    creds = DigestCredentials("alice", "s3cret")
    header = authorization(challenge, creds, "INVITE", "sip:123@trunk:5060")
    params = parse_params(header.removeprefix("Digest "))
    assert params["username"] == "alice" and params["uri"] == "sip:123@trunk:5060"
    assert params["algorithm"] == algorithm and params["opaque"] == "xyz"
    assert ("qop" in params) == bool(qop)
    if qop:
        assert params["nc"] == "00000001" and len(params["cnonce"]) >= 8
    assert verify(header, method="INVITE", password="s3cret")
    assert not verify(header, method="INVITE", password="wrong")
    assert not verify(header, method="BYE", password="s3cret")


def test_authorization_is_deterministic_given_cnonce_and_nc() -> None:
    challenge = Challenge("r", "n", "MD5", ("auth",))
    creds = DigestCredentials("u", "p")
    first = authorization(challenge, creds, "INVITE", "sip:x@y", nc=2, cnonce="cn")
    assert first == authorization(challenge, creds, "INVITE", "sip:x@y", nc=2, cnonce="cn")
    assert "nc=00000002" in first and 'cnonce="cn"' in first
    assert first != authorization(challenge, creds, "INVITE", "sip:x@y", nc=3, cnonce="cn")


def test_auth_int_only_challenge_falls_back_to_no_qop() -> None:
    # We do not implement auth-int (body hashing); without "auth" on offer, answer RFC 2069 style.
    header = authorization(Challenge("r", "n", "MD5", ("auth-int",)), DigestCredentials("u", "p"),
                           "INVITE", "sip:x@y")
    assert "qop=" not in header
    assert verify(header, method="INVITE", password="p")


@pytest.mark.parametrize("header", [
    'Basic dXNlcjpwYXNz', 'Digest username="u", realm="r"', "",
    'Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", algorithm=SHA-1',
])
def test_verify_refuses_incomplete_headers(header: str) -> None:
    assert not verify(header, method="INVITE", password="p")


def test_strongest_challenge_wins_whatever_the_order() -> None:
    md5 = 'Digest realm="r", nonce="a"'
    sha = 'Digest realm="r", nonce="b", algorithm=SHA-256'
    odd = 'Digest realm="r", nonce="c", algorithm=SHA-512-256'
    assert pick_challenge([md5, sha]).nonce == "b"
    assert pick_challenge([odd, sha, md5]).nonce == "b"
    assert pick_challenge(['Basic realm="x"', md5]).nonce == "a"
    with pytest.raises(ValueError):
        pick_challenge([odd, 'Basic realm="x"'])
    with pytest.raises(ValueError):
        pick_challenge([])


@pytest.mark.parametrize("status,challenge_header,answer_header", [
    (401, "WWW-Authenticate", "Authorization"),
    (407, "Proxy-Authenticate", "Proxy-Authorization"),
])
def test_answer_challenge_uses_the_matching_headers(status: int, challenge_header: str,
                                                    answer_header: str) -> None:
    response = parse_message(
        f"SIP/2.0 {status} Auth\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1"
        f"\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        f'{challenge_header}: Digest realm="r", nonce="n", algorithm=MD5\r\n'
        f'{challenge_header}: Digest realm="r", nonce="n2", algorithm=SHA-256, qop="auth"\r\n'
        f"Content-Length: 0\r\n\r\n".encode())
    assert isinstance(response, SipResponse)
    name, value = answer_challenge(response, DigestCredentials("u", "p"), "BYE", "sip:b@h")
    assert name == answer_header
    assert 'nonce="n2"' in value and "algorithm=SHA-256" in value
    assert verify(value, method="BYE", password="p")


def test_stale_flag_and_when_to_answer_again() -> None:
    head = ("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;"
            "tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n")
    stale = parse_message((head + 'WWW-Authenticate: Digest realm="r", nonce="n", stale=true'
                           "\r\nContent-Length: 0\r\n\r\n").encode())
    fresh = parse_message((head + 'WWW-Authenticate: Digest realm="r", nonce="n", stale=FALSE'
                           "\r\nContent-Length: 0\r\n\r\n").encode())
    junk = parse_message((head + 'WWW-Authenticate: Basic realm="r"\r\nContent-Length: 0'
                          "\r\n\r\n").encode())
    assert isinstance(stale, SipResponse) and isinstance(fresh, SipResponse)
    assert isinstance(junk, SipResponse)
    assert Challenge.parse('Digest realm="r", nonce="n", stale=TRUE').stale
    assert not Challenge.parse('Digest realm="r", nonce="n"').stale
    assert may_answer(fresh, 0) and may_answer(stale, 0)
    assert may_answer(stale, 1) and not may_answer(fresh, 1)  # wrong password: stop
    assert not may_answer(stale, 2) and not may_answer(junk, 1)
