from __future__ import annotations

import pytest

from inferstack.router.stats import LiveStats, VllmStatsScraper, parse_vllm_metrics

VLLM_METRICS = b"""\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="smollm2-135m"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="smollm2-135m"} 2.0
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="smollm2-135m"} 1500.0
vllm:generation_tokens_total{engine="1",model_name="smollm2-135m"} 0.0
vllm:request_generation_tokens_sum{engine="0",model_name="smollm2-135m"} 99.0
vllm:generation_tokens_created{engine="0",model_name="smollm2-135m"} 1.7e9
vllm:kv_cache_usage_perc{engine="0",model_name="smollm2-135m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="smollm2-135m"} 0.5
"""


def test_parses_the_vllm_gauges_and_token_counter() -> None:
    assert parse_vllm_metrics(VLLM_METRICS) == (3.0, 2.0, 1500.0, 0.5)
    assert parse_vllm_metrics(b"").kv_cache_usage is None


def test_predicted_ttft_grows_with_queued_waves() -> None:
    stats = LiveStats(expected_ttft_ms=200, max_concurrency=4)
    assert stats.predicted_ttft_ms() == 200
    stats.observe_duration(2000)
    stats.in_flight = 3
    assert stats.predicted_ttft_ms() == 200  # a free slot remains
    stats.reported(4, 3)  # the backend holds 4 more than the 3 we sent: another gateway's
    assert stats.load == 7
    assert stats.predicted_ttft_ms() == pytest.approx(200 + 4 * 2000 / 4)
    stats.in_flight = 1  # two of ours ended since: counted at once, the others' stay as reported
    assert stats.load == 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ewma_moves_a_fifth_of_the_way() -> None:
    stats = LiveStats(expected_ttft_ms=100, max_concurrency=1, clock=Clock())
    stats.observe_ttft(200)
    assert stats.ttft_ms == pytest.approx(120)


def test_an_unrefreshed_slow_estimate_relaxes_to_the_expected_ttft() -> None:
    clock = Clock()
    stats = LiveStats(expected_ttft_ms=200, max_concurrency=1, ttft_half_life_s=10, clock=clock)
    for _ in range(10):  # a burst of slow first tokens
        stats.observe_ttft(5000)
    slow = stats.ttft_ms
    assert slow > 4000
    clock.now += 10  # no request since: one half-life
    assert stats.ttft_ms == pytest.approx(200 + (slow - 200) / 2)
    assert stats.predicted_ttft_ms() == stats.ttft_ms  # idle: no queueing term
    clock.now += 60
    assert stats.ttft_ms == pytest.approx(200, abs=(slow - 200) / 64)
    stats.observe_ttft(300)  # a new sample moves the relaxed estimate, not the stale one
    assert stats.ttft_ms < 300


class MetricsBackend:
    name = "stub"
    base_url = "http://stub/v1"

    def __init__(self, pages: list[bytes | None]) -> None:
        self.pages = pages

    async def fetch_bytes(self, url: str) -> bytes | None:
        assert url == "http://stub/metrics"
        return self.pages.pop(0)


async def test_throughput_is_measured_only_while_busy() -> None:
    def page(running: int, tokens: int) -> bytes:
        text = VLLM_METRICS.replace(b"} 3.0", b"} %d.0" % running)
        return text.replace(b"1500.0", b"%d.0" % tokens)

    stats = LiveStats(expected_ttft_ms=100, max_concurrency=8)
    backend = MetricsBackend([page(0, 100), page(0, 100), page(2, 400), page(0, 400)])
    scraper = VllmStatsScraper(backend, stats, interval_s=1)  # type: ignore[arg-type]
    await scraper.scrape_once()
    await scraper.scrape_once()
    assert stats.tokens_per_s is None  # idle: no sample
    await scraper.scrape_once()
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 0
    assert stats.backend_running == 2
    measured = stats.tokens_per_s
    await scraper.scrape_once()
    assert stats.tokens_per_s == measured  # no new tokens: unchanged


async def test_a_failed_scrape_drops_the_stale_backend_load() -> None:
    stats = LiveStats(expected_ttft_ms=100, max_concurrency=1)
    backend = MetricsBackend([VLLM_METRICS, None])
    scraper = VllmStatsScraper(backend, stats, interval_s=1)  # type: ignore[arg-type]
    await scraper.scrape_once()
    assert stats.load == 5
    await scraper.scrape_once()  # /metrics did not answer
    assert (stats.backend_running, stats.backend_waiting, stats.load) == (0, 0, 0)
