"""Guard metrics: latency per check, findings by type and action. Never text or values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.04, 0.06, 0.1, 0.25, 0.5, 1)


class GuardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.check_seconds = Histogram(
            "inferstack_guard_check_seconds", "Time spent in one guard check",
            ["check"], buckets=_BUCKETS, registry=registry,
        )  # fmt: skip
        self.findings = Counter(
            "inferstack_guard_findings", "Guard findings by type, the action taken and the direction",
            ["type", "action", "direction"], registry=registry,
        )  # fmt: skip
