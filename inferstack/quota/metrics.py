"""Quota metrics on the gateway's registry. Labels are limit kinds and store names only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class QuotaMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rejections = Counter(
            "inferstack_quota_rejections", "Requests refused by a quota or budget, by the limit that refused",
            ["limit"], registry=registry,
        )  # fmt: skip
        self.store_errors = Counter(
            "inferstack_quota_store_errors", "Quota store calls that failed (unreachable, timed out)",
            ["store", "mode"], registry=registry,
        )  # fmt: skip
        self.store_seconds = Histogram(
            "inferstack_quota_store_seconds", "Time of one quota store call",
            ["store", "op"], buckets=_STORE_BUCKETS, registry=registry,
        )  # fmt: skip
