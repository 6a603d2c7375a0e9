"""Prometheus metrics, one registry per app instance (no process-global collectors).

Labels carry route templates, status codes and deployment names only: never text, keys or ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from inferstack.guard.metrics import GuardMetrics
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.router.metrics import RouterMetrics

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "inferstack_requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "inferstack_request_duration_seconds",
            "Time to the end of the response body",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "inferstack_requests_in_flight", "Requests being served", registry=self.registry
        )
        self.backend_up = Gauge(
            "inferstack_backend_up",
            "1 when the deployment is healthy (one of its replicas is)",
            ["deployment"],
            registry=self.registry,
        )
        self.replica_up = Gauge(
            "inferstack_replica_up",
            "1 when the replica is healthy",
            ["deployment", "replica"],
            registry=self.registry,
        )
        self.backend_restarts = Gauge(
            "inferstack_backend_restarts", "Supervisor restarts of a local vLLM process",
            ["deployment"], registry=self.registry,
        )  # fmt: skip
        self.router = RouterMetrics(self.registry)
        self.guard = GuardMetrics(self.registry)
        self.pipeline = PipelineMetrics(self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
