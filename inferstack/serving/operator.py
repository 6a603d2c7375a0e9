"""`GET /v1/admin/stats`: the operator page's numbers, read from the gateway's own Prometheus
registry (so they agree with `/metrics`) and from the deployments' live state.

Rates and percentiles are over the last `window_s`: each read keeps a snapshot of the cumulative
counters and histogram buckets (at most one per `every_s`), and a window is the difference
between the newest snapshot and the oldest one inside it. Labels are deployment, tenant, reason
and finding-type names only: never prompt text, values or keys."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from inferstack.pipeline.recent import RecentCalls
from inferstack.router.deployments import Deployment

GENERATION_ROUTES = frozenset({"/v1/chat/completions", "/v1/completions"})
Buckets = tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last


@dataclass(frozen=True)
class Snapshot:
    at: float
    requests: float = 0.0
    errors: float = 0.0  # status >= 500
    tokens_out: float = 0.0
    latency: Buckets = ()
    ttft: Buckets = ()
    totals: dict[str, Any] = field(default_factory=dict)


def quantile(q: float, newer: Buckets, older: Buckets) -> float | None:
    """Prometheus' histogram_quantile over the difference of two cumulative bucket sets: linear
    within the bucket; a rank in the +Inf bucket gives the highest finite bound. None: no data."""
    before = dict(older)
    counts = [(bound, count - before.get(bound, 0.0)) for bound, count in newer]
    if not counts or counts[-1][1] <= 0:
        return None
    rank = q * counts[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def _add_buckets(into: dict[float, float], sample_labels: dict[str, str], value: float) -> None:
    bound = float(sample_labels["le"])
    into[bound] = into.get(bound, 0.0) + value


class OperatorStats:
    def __init__(
        self,
        registry: CollectorRegistry,
        deployments: Iterable[Deployment],
        recent: RecentCalls,
        *,
        refresh: Callable[[], None] = lambda: None,
        window_s: float = 60.0,
        every_s: float = 2.0,
        history: int = 150,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.deployments = deployments
        self.recent = recent
        self.refresh = refresh  # brings the health and breaker gauges up to date
        self.window_s = window_s
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        self._snapshots: deque[Snapshot] = deque([Snapshot(self.started)], maxlen=history)

    def _read(self) -> Snapshot:
        requests = errors = tokens_out = 0.0
        latency: dict[float, float] = {}
        ttft: dict[float, float] = {}
        cost_by_deployment: dict[str, float] = {}
        cost_by_tenant: dict[str, float] = {}
        findings: dict[str, float] = {}
        screened_out = 0.0
        by_status: dict[str, float] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                name, labels, value = sample.name, sample.labels, sample.value
                if name == "inferstack_requests_total" and labels.get("route") in GENERATION_ROUTES:
                    requests += value
                    by_status[labels["status"]] = by_status.get(labels["status"], 0.0) + value
                    if labels["status"].isdigit() and int(labels["status"]) >= 500:
                        errors += value
                elif name == "inferstack_request_duration_seconds_bucket":
                    if labels.get("route") in GENERATION_ROUTES:
                        _add_buckets(latency, labels, value)
                elif name == "inferstack_time_to_first_token_seconds_bucket":
                    _add_buckets(ttft, labels, value)
                elif name == "inferstack_tokens_total" and labels.get("direction") == "out":
                    tokens_out += value
                elif name == "inferstack_cost_usd_total":
                    deployment, tenant = labels["deployment"], labels["tenant"]
                    cost_by_deployment[deployment] = cost_by_deployment.get(deployment, 0.0) + value
                    cost_by_tenant[tenant] = cost_by_tenant.get(tenant, 0.0) + value
                elif name == "inferstack_guard_findings_total":
                    findings[labels["type"]] = findings.get(labels["type"], 0.0) + value
                elif name == "inferstack_retrieval_screened_out_chunks_total":
                    screened_out += value
        totals = {
            "requests": requests,
            "requests_by_status": by_status,
            "tokens_out": tokens_out,
            "cost_usd_by_deployment": {k: round(v, 8) for k, v in sorted(cost_by_deployment.items())},
            "cost_usd_by_tenant": {k: round(v, 8) for k, v in sorted(cost_by_tenant.items())},
            "guard_findings": dict(sorted(findings.items())),
            "retrieval_screened_out": screened_out,
        }
        return Snapshot(
            self.clock(), requests, errors, tokens_out,
            tuple(sorted(latency.items())), tuple(sorted(ttft.items())), totals,
        )  # fmt: skip

    def _window(self, newest: Snapshot) -> Snapshot:
        """The oldest kept snapshot inside the window (the first one when none is)."""
        inside = [s for s in self._snapshots if newest.at - s.at <= self.window_s and s is not newest]
        return inside[0] if inside else self._snapshots[0]

    @staticmethod
    def _rates(newer: Snapshot, older: Snapshot) -> dict[str, float | None]:
        seconds = max(newer.at - older.at, 1e-9)
        p50, p95 = quantile(0.5, newer.latency, older.latency), quantile(0.95, newer.latency, older.latency)
        t50, t95 = quantile(0.5, newer.ttft, older.ttft), quantile(0.95, newer.ttft, older.ttft)

        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {
            "seconds": round(seconds, 1),
            "requests_per_min": round((newer.requests - older.requests) * 60 / seconds, 2),
            "errors_per_min": round((newer.errors - older.errors) * 60 / seconds, 2),
            "tokens_per_s": round((newer.tokens_out - older.tokens_out) / seconds, 2),
            "latency_p50_ms": ms(p50), "latency_p95_ms": ms(p95),
            "ttft_p50_ms": ms(t50), "ttft_p95_ms": ms(t95),
        }  # fmt: skip

    def _series(self) -> list[dict[str, Any]]:
        points: Sequence[Snapshot] = list(self._snapshots)
        return [
            {"at": round(newer.at, 1), **self._rates(newer, older)}
            for older, newer in itertools.pairwise(points)
        ]

    def backends(self) -> list[dict[str, Any]]:
        return [
            {
                "deployment": d.name,
                "state": d.state,
                "tier": d.spec.tier,
                "replicas": [
                    {
                        "id": r.id,
                        "healthy": r.backend.healthy,
                        "circuit": r.breaker.state.value,
                        "in_flight": r.stats.in_flight,
                        "kv_cache_usage": r.stats.kv_cache_usage,
                    }
                    for r in d.replicas
                ],
            }
            for d in self.deployments
        ]

    def snapshot(self) -> dict[str, Any]:
        self.refresh()
        newest = self._read()
        older = self._window(newest)
        if newest.at - self._snapshots[-1].at >= self.every_s:
            self._snapshots.append(newest)
        return {
            "object": "inferstack.stats",
            "at": round(newest.at, 3),
            "uptime_s": round(newest.at - self.started, 1),
            "window": self._rates(newest, older),
            "totals": newest.totals,
            "series": self._series(),
            "backends": self.backends(),
            "recent": self.recent.latest(20),
        }
