"""Router metrics, registered on the gateway's per-app registry. Labels are deployment names,
reason codes and configured tenant names only."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3, 6, 12, 30)


class RouterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "inferstack_route_decisions", "Routing decisions by deployment and reason",
            ["deployment", "reason"], registry=registry,
        )  # fmt: skip
        self.cost_usd = Counter(
            "inferstack_cost_usd", "Actual cost from usage, USD",
            ["tenant", "deployment"], registry=registry,
        )  # fmt: skip
        self.attempt_failures = Counter(
            "inferstack_backend_attempt_failures", "Failed backend attempts (retried or failed over)",
            ["deployment", "code"], registry=registry,
        )  # fmt: skip
        self.failovers = Counter(
            "inferstack_failovers", "Requests moved to another deployment",
            ["from_deployment", "to_deployment", "stage"], registry=registry,
        )  # fmt: skip
        self.breaker_open = Gauge(
            "inferstack_circuit_open", "1 while a replica's circuit breaker is open or half-open",
            ["deployment", "replica"], registry=registry,
        )  # fmt: skip
        self.placements = Counter(
            "inferstack_replica_placements", "Replica chosen for a call, by placement reason",
            ["deployment", "replica", "reason"], registry=registry,
        )  # fmt: skip
        self.placement_store_errors = Counter(
            "inferstack_placement_store_errors", "Placement lookups or records the shared store missed",
            registry=registry,
        )  # fmt: skip
        self.ttft = Histogram(
            "inferstack_time_to_first_token_seconds", "Streaming: backend call start to first token",
            ["deployment"], buckets=_TTFT_BUCKETS, registry=registry,
        )  # fmt: skip
        self.predicted_ttft = Gauge(
            "inferstack_predicted_ttft_seconds", "Router's current TTFT prediction per deployment",
            ["deployment"], registry=registry,
        )  # fmt: skip

    def forget_replica(self, deployment: str, replica: str) -> None:
        """A replica left (a pod gone from DNS): its series go too, so an alert on an open
        breaker does not stay on for a pod that no longer exists."""
        for metric in (self.breaker_open, self.placements):
            for family in metric.collect():
                for sample in family.samples:
                    labels = sample.labels
                    if labels.get("deployment") == deployment and labels.get("replica") == replica:
                        values = [labels[name] for name in metric._labelnames]
                        with contextlib.suppress(KeyError):
                            metric.remove(*values)
