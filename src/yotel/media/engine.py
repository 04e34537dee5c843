"""The media engine: one SIP user agent, one RTP port pool, one 20 ms media clock, and the calls
carried on them.

    engine = MediaEngine(MediaConfig(sip_port=5060, default_trunk=Trunk("10.0.0.1", 5060)))
    await engine.start()
    call = await engine.originate("15551234567", caller_id="15550000000",
                                  fork=(ForkConfig(url=...), metadata))
    end = await call.wait_ended()                       # CallEnd(outcome, sip_status, reason)
    engine.on_inbound(handler)                          # async handler(call): ringing/answer
    await engine.close(drain=True)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yotel.aio.scope import TaskScope
from yotel.domain.audio import SUBPROTOCOLS, Encoding
from yotel.media.admission import Admission, AdmissionLimits
from yotel.media.call import Call, CallEvent, ForkSpec
from yotel.media.clock import MediaClock
from yotel.media.errors import NoTrunk, PortsExhausted, SubprotocolNotOffered
from yotel.media.leg import Leg
from yotel.media.runtime import Runtime
from yotel.media.stats import MediaStats
from yotel.rtp import ports
from yotel.rtp.ports import RtpPortPool
from yotel.rtp.session import RtpSession
from yotel.sip.address import SipUri
from yotel.sip.dialog import Address
from yotel.sip.digest import DigestCredentials
from yotel.sip.invite import IncomingInvite
from yotel.sip.message import SipRequest
from yotel.sip.sdp import SdpError
from yotel.sip.ua import UserAgent

log = logging.getLogger(__name__)
InboundHandler = Callable[[Call], Awaitable[None]]
Screen = Callable[[IncomingInvite], Awaitable[int | None]]
DEFAULT_SUBPROTOCOLS = SUBPROTOCOLS


@dataclass(frozen=True)
class Trunk:
    host: str
    port: int = 5060
    username: str | None = None
    password: str | None = None
    caller_id: str | None = None

    @classmethod
    def parse(cls, uri: str) -> Trunk:
        """`sip:host:port` (YOTEL_OUTBOUND_TRUNK)."""
        parsed = SipUri.parse(uri if uri.startswith("sip") else f"sip:{uri}")
        host, port = parsed.address
        return cls(host, port)

    @property
    def credentials(self) -> DigestCredentials | None:
        if self.username is None:
            return None
        return DigestCredentials(self.username, self.password or "")


@dataclass(frozen=True)
class MediaConfig:
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060  # 0: ephemeral (tests)
    rtp_host: str | None = None  # where RTP sockets bind; default sip_host
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    advertised_address: str | None = None  # in SDP c= and Contact; default sip_host
    audio_fork_subprotocols: tuple[str, ...] = DEFAULT_SUBPROTOCOLS
    recordings_dir: Path = field(default_factory=lambda: Path("recordings"))
    allow_insecure: bool = False
    default_trunk: Trunk | None = None
    answer_timeout_s: float = 30.0  # PRODUCT.md §8: then CANCEL, outcome no_answer
    drain_timeout_s: float = 30.0
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    clock_phases: int = 5  # the 20 ms period cut in 4 ms slots (docs/media.md, "The clock")

    @property
    def advertised(self) -> str:
        return self.advertised_address or self.sip_host


class MediaEngine:
    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self.stats = MediaStats()
        self.clock = MediaClock(phases=config.clock_phases, cost=self.stats.tick)
        self.ports = RtpPortPool(config.rtp_port_min, config.rtp_port_max)
        self.ua = UserAgent(config.sip_host, config.sip_port, on_invite=self._on_invite,
                            advertised_host=config.advertised)
        self.ua.screen_invite = self._admit_invite
        self.calls: dict[str, Call] = {}
        self._handler: InboundHandler | None = None
        self._screen: Screen | None = None
        self.admission = Admission(config.admission)
        self._accepting = True
        self._background = TaskScope("engine")  # BYEs and CANCELs that outlive their call
        self._runtime = Runtime(self.clock, self.stats, config.recordings_dir, self._forget,
                                self._spawn, config.allow_insecure,
                                config.audio_fork_subprotocols)

    async def start(self) -> None:
        await self.ua.start()
        self.clock.start()

    @property
    def sip_address(self) -> tuple[str, int]:
        return self.ua.local_address

    def on_inbound(self, handler: InboundHandler, *, screen: Screen | None = None) -> None:
        """`handler(call)` runs the flow of each admitted INVITE; `screen(incoming)`, if given,
        runs first and may refuse with a status (404 for an unknown DID) before any port or
        call exists."""
        self._handler = handler
        self._screen = screen

    def check_subprotocol(self, subprotocol: str) -> None:
        """SubprotocolNotOffered (424 subprotocol_mismatch upstream): this node does not offer
        the agent's subprotocol."""
        if subprotocol not in self.config.audio_fork_subprotocols:
            raise SubprotocolNotOffered(subprotocol)

    # -- outbound --------------------------------------------------------------------------
    async def originate(self, to: str, *, caller_id: str = "yotel", trunk: Trunk | None = None,
                        encoding: Encoding = "pcmu",
                        fork: ForkSpec | None = None,
                        answer_timeout_s: float | None = None, call_id: str | None = None
                        ) -> Call:
        """Place a call to `to` (digits/E.164 via the trunk, or a full `sip:` URI). Returns at
        once; progress arrives as call events and `await call.wait_ended()`. Raises NoTrunk,
        SubprotocolNotOffered or PortsExhausted before anything is sent."""
        uri = self._target(to, trunk)
        if fork is not None:
            self.check_subprotocol(fork[0].subprotocol)
        leg = await self._new_leg(encoding)
        from_uri = f"sip:{caller_id}@{self.config.advertised}"
        call = Call(self._runtime, leg, direction="outbound", from_uri=from_uri, to_uri=uri,
                    call_id=call_id)
        self._register(call)
        if fork is not None:
            spec = ForkSpec(*fork)
            call.prepare_fork(spec.config, spec.metadata, mint_token=spec.mint_token)
        chosen = trunk or self.config.default_trunk
        try:
            outgoing = await self.ua.invite(
                uri, from_uri=from_uri, sdp=leg.offer(),
                credentials=chosen.credentials if chosen else None,
                on_provisional=lambda response: call.on_provisional(response.status))
        except Exception:
            await call.hangup("failed", reason="INVITE could not be sent")
            raise
        call.outgoing = outgoing
        call.scope.spawn(call.run_outbound(outgoing, answer_timeout_s
                                           or self.config.answer_timeout_s), name="invite")
        return call

    def _target(self, to: str, trunk: Trunk | None) -> str:
        if to.startswith(("sip:", "sips:")):
            return to
        chosen = trunk or self.config.default_trunk
        if chosen is None:
            raise NoTrunk("no SIP trunk for a number (and no default trunk)")
        return f"sip:{to}@{chosen.host}:{chosen.port}"

    async def _new_leg(self, encoding: Encoding) -> Leg:
        host = self.config.rtp_host or self.config.sip_host
        try:
            session = await RtpSession.open(host, self.ports)
        except (ports.PortsExhausted, OSError) as exc:
            raise PortsExhausted(f"no RTP port: {exc}") from exc
        return Leg(session, address=self.config.advertised, encoding=encoding)

    # -- inbound ---------------------------------------------------------------------------
    def _admit_invite(self, request: SipRequest, source: Address
                      ) -> tuple[int, list[tuple[str, str]]] | None:
        """Before the UA creates anything for a new INVITE: admission control. A refusal is a
        stateless 503 with Retry-After; an admitted INVITE holds its place until settled."""
        retry = [("Retry-After", str(self.admission.limits.retry_after_s))]
        if self._handler is None or not self._accepting:
            return (503 if not self._accepting else 480), retry
        if self.admission.admit(source[0], self._now()) is not None:
            return 503, retry
        return None

    async def _on_invite(self, incoming: IncomingInvite) -> None:
        """Admitted, and 100 Trying went out. Refuse what cannot be served before allocating
        anything (the screen: an unknown DID is 404), then a leg; the flow does the rest."""
        source = incoming.source[0]
        call: Call | None = None
        try:
            call = await self._admitted(incoming)
        finally:
            if call is None:
                self.admission.release(source, completed=False, now=self._now())
            else:
                self._release_when_settled(call, source)
        if call is not None:
            await self._run_handler(call)

    async def _admitted(self, incoming: IncomingInvite) -> Call | None:
        if self._screen is not None:
            status = await self._screen(incoming)
            if status is not None:
                self.stats.screened_out += 1
                await incoming.reject(status)
                return None
        try:
            leg = await self._new_leg("pcmu")
        except PortsExhausted:
            await incoming.reject(503, retry_after_s=self.admission.limits.retry_after_s)
            return None
        call = Call(self._runtime, leg, direction="inbound", from_uri=str(incoming.from_uri),
                    to_uri=str(incoming.to_uri))
        call.incoming = incoming
        self._register(call)
        if incoming.offer is not None:
            try:
                leg.answer(incoming.offer)
            except SdpError:
                await call.reject(488)  # RFC 3261 §21.4.26: Not Acceptable Here
                return None
        call.scope.spawn(call.watch_cancel(), name="cancel-watch")
        return call

    def _release_when_settled(self, call: Call, source: str) -> None:
        """The INVITE holds its admission until the ACK confirms the caller, or the call ends."""
        settled = False

        def on_event(event: CallEvent) -> None:
            nonlocal settled
            if not settled and event.kind in ("answered", "ended"):
                settled = True
                self.admission.release(source, completed=event.kind == "answered",
                                       now=self._now())

        call.subscribe(on_event)

    async def _run_handler(self, call: Call) -> None:
        assert self._handler is not None
        try:
            await self._handler(call)
        except Exception:
            if call.state == "ended":  # e.g. the caller cancelled while the AI was connecting
                return
            log.exception("inbound handler failed for call %s", call.id)
            if call.state == "answered":
                await call.hangup("failed", reason="flow error")
            else:
                await call.reject(500)  # RFC 3261 §21.5.1; also ends the call, freeing its port

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # -- bookkeeping -------------------------------------------------------------------------
    def _register(self, call: Call) -> None:
        self.calls[call.id] = call
        self.stats.calls_started += 1

    def _forget(self, call: Call) -> None:
        if self.calls.pop(call.id, None) is not None:
            self.stats.calls_ended += 1

    @property
    def background_tasks(self) -> int:
        """Signalling still in flight for calls that have ended (BYE, CANCEL)."""
        return self._background.tasks

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._background.spawn(coro, name="signalling")

    async def close(self, drain: bool = False) -> None:
        """Stop: with `drain`, refuse new calls and let live ones end (up to
        `drain_timeout_s`); then hang up whatever is left and close the SIP socket."""
        self._accepting = False
        if drain and self.calls:
            waits = [asyncio.shield(call.ended) for call in self.calls.values()]
            await asyncio.wait(waits, timeout=self.config.drain_timeout_s)
        # Concurrently: 300 calls each closing a fork and a recorder drain in seconds.
        await asyncio.gather(*(call.hangup("hangup", reason="node shutting down",
                                           fork_close_code=1001)
                               for call in list(self.calls.values())), return_exceptions=True)
        await self._background.drain(5.0)  # BYEs and CANCELs in flight: a short grace
        await self.clock.stop()
        await self.ua.close()
