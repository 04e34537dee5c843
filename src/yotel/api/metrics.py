"""Prometheus metrics for the HTTP edge (`GET /metrics`, text exposition format).

Each app gets its own registry: several apps in one process (tests, or one per node in a
benchmark) must not collide in the global default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
