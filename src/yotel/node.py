"""The whole `yotel serve` node, built from `Settings` in one place: the database, the counters,
the media engine (SIP on `YOTEL_SIP_HOST:YOTEL_SIP_PORT`), the call layer, and the REST API on
top of them. Everything is built here and handed down as small values; nothing below reads the
Settings object.

`NodeServices` is a runner component (start/wait/stop): on stop it takes no new calls, lets live
calls end by themselves for `drain_timeout_s`, then ends the rest (the AI gets `stop` and close
1001), and closes the database last.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from dataclasses import dataclass

from yotel.api.resources import voice_agent_reference_checks
from yotel.calls.inbound import InboundCalls
from yotel.calls.recovery import close_orphaned_calls
from yotel.calls.service import CallConfig, CallService
from yotel.calls.trunks import TenantTrunks
from yotel.counters import Counters, counters_from_url
from yotel.db.engine import Database
from yotel.dialer.component import DialerComponent
from yotel.dialer.loop import DialerConfig
from yotel.domain.secretbox import SecretBox
from yotel.media.engine import MediaConfig, MediaEngine, Trunk
from yotel.settings import Settings
from yotel.trunks.service import TrunkService
from yotel.voice_agents.service import VoiceAgentService
from yotel.voice_agents.slots import AgentSlots
from yotel.webhooks.component import WebhookComponent
from yotel.webhooks.dispatcher import DispatcherConfig
from yotel.webhooks.schedule import RetrySchedule
from yotel.webhooks.sender import SenderConfig

log = logging.getLogger("yotel.node")


def media_config(settings: Settings) -> MediaConfig:
    trunk = Trunk.parse(settings.outbound_trunk) if settings.outbound_trunk else None
    return MediaConfig(
        sip_host=settings.sip_host, sip_port=settings.sip_port,
        rtp_port_min=settings.rtp_port_min, rtp_port_max=settings.rtp_port_max,
        advertised_address=settings.sip_advertised_host,
        audio_fork_subprotocols=settings.media_node().subprotocols,
        recordings_dir=settings.recordings_dir, allow_insecure=settings.allow_insecure_urls,
        default_trunk=trunk, drain_timeout_s=settings.drain_timeout_s)


def node_id(settings: Settings) -> str:
    return settings.node_id or f"{socket.gethostname()}:{settings.sip_port}"


def dialer_config(settings: Settings) -> DialerConfig:
    return DialerConfig(node_id=node_id(settings), poll_s=settings.dialer_poll_s,
                        claim_lease_s=settings.dialer_claim_lease_s, batch=settings.dialer_batch,
                        max_in_flight=settings.dialer_max_in_flight,
                        drain_s=settings.drain_timeout_s)


# Collections of the middle generation before a survivor moves to the oldest (CPython's 10).
# At 150 calls a second that is ~0.5 s of allocations: most of a call's cyclic garbage (its
# media objects, once it ends) dies there, in collections of ~25-40 ms, instead of piling up
# for full ones.
MIDDLE_GENERATION_THRESHOLD = 50


def settle_heap() -> None:
    """Once a serving process is built, before it serves: take what is alive now (modules, the
    ORM's mappings, the app; about 150 000 objects) out of the garbage collector's sight
    (`gc.freeze`), and let young garbage be found young (MIDDLE_GENERATION_THRESHOLD). Every
    call's end leaves cyclic garbage; with CPython's defaults full collections came every
    second or two at 150 calls a second, each a 200-430 ms pause of the loop that carries SIP
    and the 20 ms media clock, and a pause longer than T1 (500 ms) gets the INVITEs it delays
    retransmitted. bench/dialer.py at 150 calls/s, 33 s: 5 full collections (275-440 ms) instead
    of 20, 3.8 s in the collector instead of 6.1 s. Not for a test process: what it freezes is
    never collected."""
    gc.collect()
    gc.freeze()
    young, _, oldest = gc.get_threshold()
    gc.set_threshold(young, MIDDLE_GENERATION_THRESHOLD, oldest)


def dialer_component(settings: Settings, node: NodeServices) -> DialerComponent:
    """The dialer over `node`'s database and call layer (a runner component after `node`)."""
    return DialerComponent(node.db, node.calls, dialer_config(settings))


def webhook_config(settings: Settings) -> DispatcherConfig:
    sender = SenderConfig(connect_timeout_s=settings.webhook_connect_timeout_s,
                          read_timeout_s=settings.webhook_read_timeout_s,
                          allow_insecure=settings.allow_insecure_urls,
                          max_connections=settings.webhook_max_in_flight)
    return DispatcherConfig(
        node_id=node_id(settings), poll_s=settings.webhook_poll_s,
        min_gap_s=settings.webhook_min_pass_gap_s, batch=settings.webhook_batch,
        max_in_flight=settings.webhook_max_in_flight,
        max_per_endpoint=settings.webhook_max_per_endpoint,
        schedule=RetrySchedule(settings.webhook_retry_schedule_s, settings.webhook_retry_jitter),
        disable_after_s=settings.webhook_disable_after_s, sender=sender)


def webhook_component(settings: Settings, node: NodeServices) -> WebhookComponent:
    """The webhook dispatcher over `node`'s database (a runner component after `node`)."""
    return WebhookComponent(node.db, node.box, webhook_config(settings))


@dataclass
class Shared:
    """What the API and the node's other components share for the life of the process."""

    db: Database
    counters: Counters
    box: SecretBox
    voice_agents: VoiceAgentService
    calls: CallService


class NodeServices:
    name = "media"

    def __init__(self, settings: Settings, *, counters: Counters | None = None) -> None:
        self._settings = settings
        self._own_counters = counters is None
        self.db = Database(settings.database().url)
        self.counters = counters or counters_from_url(settings.redis_url)
        self.box = SecretBox(settings.require_secret_key().get_secret_value())
        self.engine = MediaEngine(media_config(settings))
        allow_insecure = settings.url_policy().allow_insecure
        self.voice_agents = VoiceAgentService(
            db=self.db, box=self.box, counters=self.counters, allow_insecure_urls=allow_insecure,
            reference_checks=voice_agent_reference_checks())
        trunks = TenantTrunks(self.db, TrunkService(self.db, self.box))
        self.calls = CallService(
            db=self.db, engine=self.engine, voice_agents=self.voice_agents, trunks=trunks,
            slots=AgentSlots(self.counters),
            config=CallConfig(node_id=node_id(settings), public_url=settings.effective_public_url,
                              recordings_dir=settings.recordings_dir,
                              allow_insecure=allow_insecure,
                              token_refresh_s=settings.token_refresh_s))
        self.inbound = InboundCalls(self.calls)  # DID -> flow (screened before any port)
        self.engine.on_inbound(self.inbound.handle, screen=self.inbound.screen)
        self._stopped = asyncio.Event()

    @property
    def shared(self) -> Shared:
        return Shared(self.db, self.counters, self.box, self.voice_agents, self.calls)

    async def start(self) -> None:
        closed = await close_orphaned_calls(self.db, self.calls.config.node_id)
        if closed:
            log.warning("closed %d call(s) left live by this node's last run", closed)
        self.calls.start()
        await self.engine.start()
        host, port = self.engine.sip_address
        log.info("SIP listening on udp %s:%d", host, port)

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> None:
        try:
            await self.engine.close(drain=True)
            await self.calls.close()
        finally:
            if self._own_counters:
                await self.counters.close()
            await self.db.dispose()
            self._stopped.set()
