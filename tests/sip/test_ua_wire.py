"""The user agent seen from the wire: a raw UDP peer on 127.0.0.1 sends hand-made requests and
checks every byte-level duty (RFC 3261 §8.2, §9.2, §13.3.1.4, §14, §17, §22)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import cast

import pytest

from yotel.sip.address import NameAddr
from yotel.sip.dialog import Dialog
from yotel.sip.digest import parse_params, verify
from yotel.sip.invite import IncomingInvite
from yotel.sip.message import SipRequest, SipResponse, parse_message
from yotel.sip.sdp import PCMU, SessionDescription, answer, build_offer
from yotel.sip.transaction import TimerConfig
from yotel.sip.ua import UserAgent

FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5)
OFFER = bytes(build_offer("127.0.0.1", 30000, [PCMU]))
_counter = itertools.count(1)


class RawPeer(asyncio.DatagramProtocol):
    """A hand-driven SIP peer: sends bytes, queues every message it receives."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[SipRequest | SipResponse] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait(parse_message(data))

    def send(self, data: bytes | str, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data.encode() if isinstance(data, str) else data, to)

    async def next(self, timeout: float = 3.0) -> SipRequest | SipResponse:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def response(self, status: int | None = None) -> SipResponse:
        while True:
            message = await self.next()
            if isinstance(message, SipResponse) and (status is None or message.status == status):
                return message

    async def request(self, method: str) -> SipRequest:
        while True:
            message = await self.next()
            if isinstance(message, SipRequest) and message.method == method:
                return message

    def drain(self) -> list[SipRequest | SipResponse]:
        out = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out


def request(peer: RawPeer, ua: UserAgent, method: str, *, call_id: str = "call-1",
            branch: str | None = None, cseq: str | None = None, to_tag: str | None = None,
            uri: str | None = None, body: bytes = b"", extra: str = "",
            max_forwards: str = "70") -> bytes:
    branch = branch or f"z9hG4bKraw{next(_counter)}"
    to = "<sip:100@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} {uri or f'sip:100@127.0.0.1:{ua.port}'} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch={branch}\r\n"
            f"Max-Forwards: {max_forwards}\r\nFrom: <sip:raw@127.0.0.1>;tag=rawtag\r\nTo: {to}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq or f'1 {method}'}\r\n"
            f"Contact: <sip:raw@127.0.0.1:{peer.port}>\r\n{extra}"
            + ("Content-Type: application/sdp\r\n" if body and "Content-Type" not in extra else "")
            + f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def ack_for(peer: RawPeer, ua: UserAgent, response: SipResponse, *, branch: str | None = None,
            body: bytes = b"") -> bytes:
    to_tag = NameAddr.parse(response.require("To")).tag
    return request(peer, ua, "ACK", call_id=response.call_id, branch=branch,
                   cseq=f"{response.cseq[0]} ACK", to_tag=to_tag, body=body)


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(RawPeer,
                                                              local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


class Callee:
    """An on_invite handler driven by the test through futures."""

    def __init__(self, *, answer_sdp: bytes | None = None, wait_cancel: bool = False) -> None:
        self.calls: list[IncomingInvite] = []
        self.answer_sdp = answer_sdp
        self.wait_cancel = wait_cancel
        self.dialog: asyncio.Future[Dialog] = asyncio.get_running_loop().create_future()

    async def __call__(self, incoming: IncomingInvite) -> None:
        self.calls.append(incoming)
        await incoming.ringing()
        if self.wait_cancel:
            await incoming.cancelled.wait()
            return
        sdp = self.answer_sdp
        if sdp is None:
            sdp, _ = answer(SessionDescription.parse(incoming.offer or b""), "127.0.0.1", 40000,
                            [PCMU])
        self.dialog.set_result(await incoming.accept(bytes(sdp)))


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    async with UserAgent("127.0.0.1", 0, timers=FAST) as agent:
        yield agent


@pytest.mark.parametrize("mutation,status,header", [
    ({"cseq": "1 BYE"}, 400, None),
    ({"uri": "tel:+15551234"}, 416, None),
    ({"max_forwards": "lots"}, 400, None),
    ({"extra": "Require: 100rel, timer\r\n"}, 420, ("Unsupported", "100rel")),
    ({"extra": "Content-Type: text/plain\r\n", "body": b"hi"}, 415,
     ("Accept", "application/sdp")),
])
async def test_unacceptable_requests_get_the_rfc_response(
        peer: RawPeer, ua: UserAgent, mutation: dict[str, str], status: int,
        header: tuple[str, str] | None) -> None:
    callee = Callee()
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", **mutation), ua.local_address)  # type: ignore[arg-type]
    response = await peer.response()
    assert response.status == status
    assert NameAddr.parse(response.require("To")).tag  # §8.2.6.2: final responses carry a tag
    if header is not None:
        assert header[1] in (response.headers.get(header[0]) or "")
    assert callee.calls == [] and ua.stats.rejected_bad_request == 1


async def test_405_with_allow_and_501(peer: RawPeer, ua: UserAgent) -> None:
    for method, status in (("REGISTER", 405), ("SUBSCRIBE", 405), ("FROB", 501)):
        peer.send(request(peer, ua, method), ua.local_address)
        response = await peer.response()
        assert response.status == status, method
        assert response.cseq == (1, method)
        assert "INVITE" in (response.headers.get("Allow") or "")


async def test_options_advertises_allow_and_accept(peer: RawPeer, ua: UserAgent) -> None:
    peer.send(request(peer, ua, "OPTIONS"), ua.local_address)
    response = await peer.response()
    assert response.status == 200
    assert response.headers.get("Accept") == "application/sdp"
    assert {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS"} <= set(response.headers.get_all("Allow"))


async def test_ack_with_bad_headers_is_counted_and_ignored(peer: RawPeer, ua: UserAgent) -> None:
    peer.send(request(peer, ua, "ACK", cseq="1 INVITE"), ua.local_address)
    peer.send(request(peer, ua, "OPTIONS"), ua.local_address)
    assert (await peer.response()).cseq == (1, "OPTIONS")  # nothing answered the ACK
    assert ua.stats.malformed_dropped == 1


async def test_invite_retransmission_is_absorbed(peer: RawPeer, ua: UserAgent) -> None:
    callee = Callee(wait_cancel=True)
    ua.on_invite = callee
    invite = request(peer, ua, "INVITE", body=OFFER, branch="z9hG4bKsame")
    peer.send(invite, ua.local_address)
    assert (await peer.response(100)).status == 100
    await peer.response(180)
    peer.send(invite, ua.local_address)  # §17.2.1: the last provisional again, no new call
    assert (await peer.response()).status == 180
    assert len(callee.calls) == 1


async def test_2xx_is_retransmitted_until_ack(peer: RawPeer, ua: UserAgent) -> None:
    callee = Callee()
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER), ua.local_address)
    first = await peer.response(200)
    again = await peer.response(200)  # §13.3.1.4: T1, 2T1, ... until the ACK
    assert bytes(again) == bytes(first)
    assert first.headers.get("Content-Type") == "application/sdp"
    assert NameAddr.parse(first.require("Contact")).uri.port == ua.port
    assert "BYE" in first.headers.get_all("Allow")  # §13.3.1.4
    peer.send(ack_for(peer, ua, first), ua.local_address)
    dialog = await asyncio.wait_for(callee.dialog, 3)  # resolves once the ACK was taken
    peer.drain()  # copies that crossed our ACK
    await asyncio.sleep(FAST.t2 * 2)
    assert peer.drain() == []  # and then no more
    assert dialog.remote_sdp == OFFER


async def test_late_offer_answer_comes_in_the_ack(peer: RawPeer, ua: UserAgent) -> None:
    # RFC 3261 §13.2.1: an INVITE without SDP; our offer goes in the 200, the answer in the ACK.
    callee = Callee(answer_sdp=OFFER)
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE"), ua.local_address)
    ok = await peer.response(200)
    assert ok.body == OFFER
    reply, _ = answer(SessionDescription.parse(ok.body), "127.0.0.1", 50000, [PCMU])
    peer.send(ack_for(peer, ua, ok, body=bytes(reply)), ua.local_address)
    dialog = await asyncio.wait_for(callee.dialog, 3)
    assert dialog.remote_sdp == bytes(reply) and dialog.local_sdp == OFFER


async def test_cancel_gets_200_and_the_invite_487(peer: RawPeer, ua: UserAgent) -> None:
    callee = Callee(wait_cancel=True)
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER, branch="z9hG4bKinv"), ua.local_address)
    ringing = await peer.response(180)
    peer.send(request(peer, ua, "CANCEL", branch="z9hG4bKinv", cseq="1 CANCEL"),
              ua.local_address)
    ok = await peer.response()
    assert (ok.status, ok.cseq) == (200, (1, "CANCEL"))
    terminated = await peer.response()
    assert (terminated.status, terminated.cseq) == (487, (1, "INVITE"))
    # The 487 carries the same To tag as the 180 (§9.2), and is retransmitted until ACKed.
    assert terminated.require("To") == ringing.require("To")
    assert (await peer.response(487)).status == 487
    peer.send(ack_for(peer, ua, terminated, branch="z9hG4bKinv"), ua.local_address)
    await _processed(peer, ua)  # the ACK has been taken (datagrams are handled in order)
    await asyncio.sleep(FAST.t2 * 2)
    assert peer.drain() == []  # Timer G stopped
    assert callee.calls[0].cancelled.is_set()


async def _processed(peer: RawPeer, ua: UserAgent) -> None:
    """Returns once `ua` has handled everything `peer` sent so far; drops what came back."""
    peer.send(request(peer, ua, "OPTIONS", call_id="barrier", branch="z9hG4bKbarrier"),
              ua.local_address)
    while True:
        message = await peer.next()
        if isinstance(message, SipResponse) and message.call_id == "barrier":
            break
    peer.drain()


async def test_cancel_for_nothing_and_requests_for_unknown_dialogs_get_481(
        peer: RawPeer, ua: UserAgent) -> None:
    peer.send(request(peer, ua, "CANCEL", cseq="1 CANCEL"), ua.local_address)
    assert (await peer.response()).status == 481
    for method in ("INVITE", "BYE", "INFO"):
        peer.send(request(peer, ua, method, to_tag="unknown", body=OFFER if method == "INVITE"
                          else b""), ua.local_address)
        response = await peer.response()
        assert (response.status, response.cseq[1]) == (481, method)
    assert ua.stats.rejected_481 == 4


async def _established(peer: RawPeer, ua: UserAgent) -> tuple[Dialog, SipResponse]:
    callee = Callee()
    ua.on_invite = callee
    peer.send(request(peer, ua, "INVITE", body=OFFER, call_id="est-1"), ua.local_address)
    ok = await peer.response(200)
    peer.send(ack_for(peer, ua, ok), ua.local_address)
    return await asyncio.wait_for(callee.dialog, 3), ok


async def test_reinvite_without_sdp_is_answered_with_an_offer(peer: RawPeer,
                                                               ua: UserAgent) -> None:
    dialog, ok = await _established(peer, ua)
    offers: list[bytes | None] = []

    async def on_reinvite(offer: bytes | None) -> bytes:
        offers.append(offer)
        return OFFER.replace(b"sendrecv", b"sendonly")

    dialog.on_reinvite = on_reinvite
    to_tag = NameAddr.parse(ok.require("To")).tag
    peer.send(request(peer, ua, "INVITE", call_id="est-1", cseq="2 INVITE", to_tag=to_tag),
              ua.local_address)
    reoffer = await peer.response(200)
    assert offers == [None] and b"a=sendonly" in reoffer.body
    reply, _ = answer(SessionDescription.parse(reoffer.body), "127.0.0.1", 50002, [PCMU])
    peer.send(ack_for(peer, ua, reoffer, body=bytes(reply)), ua.local_address)
    await asyncio.sleep(FAST.t1 * 4)
    assert dialog.remote_sdp == bytes(reply)
    # An old CSeq in the dialog is refused (§12.2.2).
    peer.send(request(peer, ua, "INFO", call_id="est-1", cseq="1 INFO", to_tag=to_tag),
              ua.local_address)
    assert (await peer.response()).status == 500


async def test_bye_from_the_ua_uses_the_dialog(peer: RawPeer, ua: UserAgent) -> None:
    dialog, ok = await _established(peer, ua)
    bye_task = asyncio.ensure_future(dialog.bye())
    bye = await peer.request("BYE")
    # §12.2.1.1: Request-URI is the remote target (our Contact), tags swapped, CSeq fresh.
    assert bye.uri == f"sip:raw@127.0.0.1:{peer.port}"
    assert NameAddr.parse(bye.require("From")).tag == NameAddr.parse(ok.require("To")).tag
    assert NameAddr.parse(bye.require("To")).tag == "rawtag"
    assert bye.call_id == "est-1" and bye.branch.startswith("z9hG4bK")
    reply = (f"SIP/2.0 200 OK\r\nVia: {bye.require('Via')}\r\nFrom: {bye.require('From')}\r\n"
             f"To: {bye.require('To')}\r\nCall-ID: {bye.call_id}\r\n"
             f"CSeq: {bye.require('CSeq')}\r\nContent-Length: 0\r\n\r\n")
    peer.send(reply, ua.local_address)
    await asyncio.wait_for(bye_task, 3)
    assert dialog.end_reason == "local_bye" and ua.dialogs == []


async def test_proxy_challenge_sha256_is_answered_with_cseq_plus_one(peer: RawPeer,
                                                                     ua: UserAgent) -> None:
    from yotel.sip.digest import DigestCredentials

    out = await ua.invite(f"sip:123@127.0.0.1:{peer.port}", from_uri="sip:yotel@127.0.0.1",
                          sdp=OFFER, credentials=DigestCredentials("acct", "pw"))
    first = await peer.request("INVITE")
    challenge = ('Digest realm="trunk.example", nonce="abc123", qop="auth", '
                 'algorithm=SHA-256, opaque="op1"')
    peer.send(_reply(first, 407, "Proxy Authentication Required", to_tag="t407",
                     extra=f"Proxy-Authenticate: {challenge}\r\n"), ua.local_address)
    ack = await peer.request("ACK")
    assert ack.branch == first.branch and ack.cseq == (1, "ACK")  # §17.1.1.3 hop-by-hop
    second = await peer.request("INVITE")
    assert second.cseq == (2, "INVITE") and second.branch != first.branch
    assert second.call_id == first.call_id
    assert second.require("From") == first.require("From")
    auth = second.headers.get("Proxy-Authorization") or ""
    params = parse_params(auth.removeprefix("Digest "))
    assert params["algorithm"] == "SHA-256" and params["opaque"] == "op1"
    assert params["uri"] == second.uri and params["qop"] == "auth"
    assert verify(auth, method="INVITE", password="pw")
    assert second.body == OFFER
    peer.send(_reply(second, 200, "OK", to_tag="t200", body=OFFER,
                     extra=f"Contact: <sip:trunk@127.0.0.1:{peer.port}>\r\n"), ua.local_address)
    dialog = await out.wait_answer(3)
    ack2 = await peer.request("ACK")
    assert ack2.cseq == (2, "ACK") and ack2.branch != second.branch  # §13.2.2.4 end to end
    assert dialog.remote_sdp == OFFER


def _reply(req: SipRequest, status: int, reason: str, *, to_tag: str, extra: str = "",
           body: bytes = b"") -> bytes:
    head = (f"SIP/2.0 {status} {reason}\r\nVia: {req.require('Via')}\r\n"
            f"From: {req.require('From')}\r\nTo: {req.require('To')};tag={to_tag}\r\n"
            f"Call-ID: {req.call_id}\r\nCSeq: {req.require('CSeq')}\r\n{extra}"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def test_cancel_still_works_after_the_handler_returned(peer: RawPeer,
                                                             ua: UserAgent) -> None:
    # The media engine's handler returns at once and answers later from its own task.
    pending: list[IncomingInvite] = []

    async def on_invite(incoming: IncomingInvite) -> None:
        await incoming.ringing()
        pending.append(incoming)

    ua.on_invite = on_invite
    peer.send(request(peer, ua, "INVITE", body=OFFER, branch="z9hG4bKlater"), ua.local_address)
    await peer.response(180)
    await asyncio.sleep(0.05)
    peer.send(request(peer, ua, "CANCEL", branch="z9hG4bKlater", cseq="1 CANCEL"),
              ua.local_address)
    assert (await peer.response()).status == 200
    assert (await peer.response()).status == 487
    assert pending[0].cancelled.is_set()


async def test_no_handler_means_480(peer: RawPeer, ua: UserAgent) -> None:
    peer.send(request(peer, ua, "INVITE", body=OFFER), ua.local_address)
    assert (await peer.response(100)).status == 100
    assert (await peer.response()).status == 480
