"""Operator stats: percentiles and rates from the registry's own histograms and counters,
windowed by snapshots; recent calls in outline (no text)."""

from __future__ import annotations

import math

import pytest

from inferstack.pipeline.recent import RecentCalls
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.operator import Buckets, OperatorStats, quantile
from inferstack.serving.schemas import OperatorStats as OperatorStatsSchema
from tests.router.test_stats import Clock

INF = math.inf


@pytest.mark.parametrize(
    ("q", "newer", "older", "expected"),
    [
        (0.5, ((0.1, 10.0), (1.0, 20.0), (INF, 20.0)), (), 0.1),  # rank 10 ends bucket one
        (0.75, ((0.1, 10.0), (1.0, 20.0), (INF, 20.0)), (), 0.55),  # halfway through bucket two
        (0.5, ((0.1, 10.0), (1.0, 30.0), (INF, 30.0)), ((0.1, 10.0), (1.0, 10.0), (INF, 10.0)), 0.55),
        (0.99, ((0.1, 0.0), (1.0, 1.0), (INF, 3.0)), (), 1.0),  # in +Inf: the highest finite bound
        (0.5, ((0.1, 5.0), (INF, 5.0)), ((0.1, 5.0), (INF, 5.0)), None),  # nothing new in the window
        (0.5, (), (), None),
    ],
)
def test_quantile_interpolates_like_prometheus(
    q: float, newer: Buckets, older: Buckets, expected: float | None
) -> None:
    found = quantile(q, newer, older)
    assert found == expected if expected is None else found == pytest.approx(expected)


def test_rates_and_percentiles_cover_the_window_only() -> None:
    metrics, clock = GatewayMetrics(), Clock()
    stats = OperatorStats(metrics.registry, [], RecentCalls(), clock=clock, window_s=60, every_s=1)
    chat = ("/v1/chat/completions", "POST")
    for _ in range(30):  # before the window: slow
        metrics.requests.labels(*chat, "200").inc()
        metrics.latency.labels(*chat).observe(20)
    metrics.requests.labels("/v1/embeddings", "POST", "200").inc(100)  # not a generation route
    clock.now += 120
    first = stats.snapshot()
    assert first["window"]["requests_per_min"] == pytest.approx(15.0)  # 30 in the 120 s since start
    assert first["totals"]["requests"] == 30
    clock.now += 30
    for _ in range(10):  # inside the window: fast, one failure
        metrics.requests.labels(*chat, "200").inc()
        metrics.latency.labels(*chat).observe(0.03)
    metrics.requests.labels(*chat, "503").inc()
    metrics.pipeline.tokens.labels("smollm2", "out").inc(300)
    metrics.router.cost_usd.labels("acme", "gpt").inc(0.25)
    metrics.guard.findings.labels("EMAIL_ADDRESS", "redact", "input").inc(2)
    metrics.pipeline.screened_out.inc(3)
    second = stats.snapshot()
    window = second["window"]
    assert window["seconds"] == 30
    assert window["requests_per_min"] == pytest.approx(22.0)  # 11 in 30 s
    assert window["errors_per_min"] == pytest.approx(2.0)
    assert window["tokens_per_s"] == pytest.approx(10.0)
    assert window["latency_p95_ms"] is not None and window["latency_p95_ms"] <= 50  # the old 20 s are out
    totals = second["totals"]
    assert totals["requests_by_status"] == {"200": 40, "503": 1}
    assert totals["cost_usd_by_tenant"] == {"acme": 0.25}
    assert totals["cost_usd_by_deployment"] == {"gpt": 0.25}
    assert totals["guard_findings"] == {"EMAIL_ADDRESS": 2} and totals["retrieval_screened_out"] == 3
    assert [point["requests_per_min"] for point in second["series"]] == [15.0, 22.0]
    OperatorStatsSchema.model_validate(second)


def test_snapshots_are_kept_at_most_every_few_seconds() -> None:
    metrics, clock = GatewayMetrics(), Clock()
    stats = OperatorStats(metrics.registry, [], RecentCalls(), clock=clock, every_s=2, history=3)
    for _ in range(10):
        clock.now += 0.5
        stats.snapshot()
    assert len(stats.snapshot()["series"]) == 2  # 5 s of reads, 3 kept snapshots at most
