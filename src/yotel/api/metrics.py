"""Prometheus metrics for the HTTP edge (`GET /metrics`, text exposition format).

Each app gets its own registry: several apps in one process (tests, or one per node in a
benchmark) must not collide in the global default registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from yotel.aio.gc_pauses import GcPauses, watch_gc

if TYPE_CHECKING:
    from yotel.media.engine import MediaEngine

CONTENT_TYPE = CONTENT_TYPE_LATEST


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("yotel_http_requests", "HTTP requests handled",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("yotel_http_request_duration_seconds",
                                 "HTTP request handling time", ["method", "route"],
                                 registry=self.registry)

    def observe(self, method: str, route: str, status: int, elapsed_s: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(elapsed_s)

    def watch_engine(self, engine: MediaEngine) -> None:
        """Export the media node's own counters, and the process's GC pauses (read at scrape
        time, nothing on the hot path)."""
        self.registry.register(MediaCollector(engine))
        self.registry.register(GcCollector(watch_gc()))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


class MediaCollector(Collector):
    """Calls, SIP refusals (admission control, malformed, screened), the media clock."""

    def __init__(self, engine: MediaEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        engine = self._engine
        sip, clock, admission = engine.ua.stats, engine.clock, engine.admission
        yield _gauge("yotel_calls_active", "calls carried by this node", len(engine.calls))
        yield _counter("yotel_calls_started", "calls started", engine.stats.calls_started)
        yield _counter("yotel_calls_ended", "calls ended", engine.stats.calls_ended)
        refused = CounterMetricFamily("yotel_sip_invites_refused",
                                      "new INVITEs refused before anything was allocated",
                                      labels=["reason"])
        for reason, count in sorted(admission.refused.items()):
            refused.add_metric([reason], count)
        refused.add_metric(["unknown_number"], engine.stats.screened_out)
        yield refused
        yield _gauge("yotel_sip_invites_pending", "admitted INVITEs not yet confirmed",
                     sum(admission.pending.values()))
        yield _counter("yotel_sip_malformed_dropped", "SIP datagrams dropped as malformed",
                       sip.malformed_dropped)
        yield _counter("yotel_sip_rejected_bad_request", "SIP requests answered with an error",
                       sip.rejected_bad_request)
        yield _counter("yotel_media_clock_ticks", "media clock steps fired", clock.ticks)
        yield _counter("yotel_media_clock_skipped", "periods skipped (loop too late)",
                       clock.skipped_ticks)
        yield _counter("yotel_media_clock_late", "steps fired more than a period late",
                       clock.late_ticks)
        yield _gauge("yotel_media_clock_max_lateness_seconds", "latest step lateness seen",
                     clock.max_lateness_s)
        packets = engine.stats.packets
        yield _counter("yotel_rtp_packets_received", "caller RTP packets", packets.rtp_in)
        yield _counter("yotel_rtp_packets_sent", "RTP packets sent by the clock",
                       packets.rtp_out)
        yield _counter("yotel_ai_frames_dropped_late",
                       "AI audio frames dropped to keep playout within 200 ms after skipped "
                       "ticks", packets.ai_frames_dropped_late)


class GcCollector(Collector):
    """Collections and the time they held the loop, per generation; the longest pause."""

    def __init__(self, pauses: GcPauses) -> None:
        self._pauses = pauses

    def collect(self) -> Iterator[Metric]:
        pauses = self._pauses
        count = CounterMetricFamily("yotel_gc_collections", "garbage collections",
                                    labels=["generation"])
        spent = CounterMetricFamily("yotel_gc_pause_seconds", "time spent collecting",
                                    labels=["generation"])
        longest = GaugeMetricFamily("yotel_gc_max_pause_seconds", "the longest collection",
                                    labels=["generation"])
        for generation in range(len(pauses.collections)):
            label = [str(generation)]
            count.add_metric(label, pauses.collections[generation])
            spent.add_metric(label, pauses.seconds[generation])
            longest.add_metric(label, pauses.max_s[generation])
        yield from (count, spent, longest)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=value)


def _counter(name: str, text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, value=value)
