"""HTTP Digest for SIP (RFC 3261 §22, RFC 2617, RFC 7616 for SHA-256): the client side that
answers a trunk's 401/407, and a verifier used by tests and future registrars. No I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from yotel.sip.headers import split_list
from yotel.sip.message import SipResponse

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_STRENGTH = {"MD5": 0, "SHA-256": 1}


@dataclass(frozen=True)
class DigestCredentials:
    username: str
    password: str


@dataclass(frozen=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False  # RFC 7616 §3.3: our last answer was right, only its nonce expired

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "digest":
            raise ValueError(f"unsupported auth scheme {scheme!r}")
        params = parse_params(rest)
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in _HASHES:
            raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        if "realm" not in params or "nonce" not in params:
            raise ValueError("challenge lacks realm or nonce")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        stale = params.get("stale", "").lower() == "true"
        return cls(params["realm"], params["nonce"], algorithm, qop, params.get("opaque"), stale)


def parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in split_list(text):
        key, sep, value = item.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return params


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode()).hexdigest()


def response_hash(algorithm: str, username: str, password: str, realm: str, method: str,
                  uri: str, nonce: str, qop: str | None, nc: str, cnonce: str) -> str:
    ha1 = _h(algorithm, f"{username}:{realm}:{password}")
    ha2 = _h(algorithm, f"{method}:{uri}")
    if qop:
        return _h(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _h(algorithm, f"{ha1}:{nonce}:{ha2}")


def authorization(challenge: Challenge, credentials: DigestCredentials, method: str, uri: str,
                  *, nc: int = 1, cnonce: str | None = None) -> str:
    """The Authorization / Proxy-Authorization value answering `challenge`."""
    qop = "auth" if "auth" in challenge.qop else None
    cnonce = cnonce or secrets.token_hex(8)
    nc_text = f"{nc:08x}"
    digest = response_hash(challenge.algorithm, credentials.username, credentials.password,
                           challenge.realm, method, uri, challenge.nonce, qop, nc_text, cnonce)
    parts = [f'username="{credentials.username}"', f'realm="{challenge.realm}"',
             f'nonce="{challenge.nonce}"', f'uri="{uri}"', f'response="{digest}"',
             f"algorithm={challenge.algorithm}"]
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{cnonce}"']
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)


def pick_challenge(values: list[str]) -> Challenge:
    """RFC 7616 §3.7: of several challenges, answer the strongest we support (SHA-256 first).
    Raises ValueError when none is usable."""
    usable = []
    for value in values:
        try:
            usable.append(Challenge.parse(value))
        except ValueError:
            continue
    if not usable:
        raise ValueError("no usable digest challenge")
    return max(usable, key=lambda c: _STRENGTH[c.algorithm])


def response_challenge(response: SipResponse) -> Challenge:
    """The challenge to answer in a 401 (WWW-) or 407 (Proxy-Authenticate), §22.2/§22.3.
    Raises ValueError when the response carries no usable challenge."""
    return pick_challenge(response.headers.get_all(
        "Proxy-Authenticate" if response.status == 407 else "WWW-Authenticate"))


def answer_challenge(response: SipResponse, credentials: DigestCredentials, method: str,
                     uri: str) -> tuple[str, str]:
    """The header (name, value) answering a 401 or 407. Raises ValueError when the response
    carries no usable challenge."""
    name = "Proxy-Authorization" if response.status == 407 else "Authorization"
    return name, authorization(response_challenge(response), credentials, method, uri)


def may_answer(response: SipResponse, answered: int) -> bool:
    """Whether a 401/407 deserves an(other) answer after `answered` earlier ones in the same
    exchange: the first always; one more only if the challenge says our answer was right but
    its nonce went stale (RFC 7616 §3.3); otherwise the credentials are wrong, stop."""
    if answered == 0:
        return True
    try:
        return answered == 1 and response_challenge(response).stale
    except ValueError:
        return False


def verify(header: str, *, method: str, password: str, algorithm: str = "MD5") -> bool:
    """Check an Authorization value (server side)."""
    scheme, _, rest = header.strip().partition(" ")
    p = parse_params(rest)
    needed = {"username", "realm", "nonce", "uri", "response"}
    chosen = p.get("algorithm", algorithm).upper()
    if scheme.lower() != "digest" or not needed <= set(p) or chosen not in _HASHES:
        return False
    expected = response_hash(chosen, p["username"], password,
                             p["realm"], method, p["uri"], p["nonce"], p.get("qop"),
                             p.get("nc", ""), p.get("cnonce", ""))
    return secrets.compare_digest(expected, p["response"])
