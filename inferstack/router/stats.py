"""Live load and speed of each replica: what the gateway itself sees (in-flight requests, EWMA
time to first token and duration) plus what a vLLM backend reports on its `/metrics` (running
and waiting requests, KV-cache usage, generated tokens -> measured throughput)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import NamedTuple

from inferstack.router.backend import OpenAIBackend

log = logging.getLogger(__name__)

_ALPHA = 0.2  # EWMA weight of the newest sample


def _ewma(old: float | None, sample: float) -> float:
    return sample if old is None else old + _ALPHA * (sample - old)


class LiveStats:
    def __init__(
        self,
        expected_ttft_ms: float,
        max_concurrency: int,
        ttft_half_life_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.expected_ttft_ms = expected_ttft_ms
        self.ttft_half_life_s = ttft_half_life_s
        self._clock = clock
        self._ttft_ms = expected_ttft_ms  # EWMA as of its last sample
        self._ttft_at = clock()
        self.duration_ms: float | None = None
        self.in_flight = 0
        self.backend_running = 0
        self.backend_waiting = 0
        self._ours_at_report = 0
        self.kv_cache_usage: float | None = None  # 0..1, vLLM's own gauge
        self.tokens_per_s: float | None = None  # generation throughput measured while busy

    @property
    def ttft_ms(self) -> float:
        """The EWMA TTFT, relaxed toward `expected_ttft_ms` by the time since its last sample.

        Only requests served by this deployment refresh the estimate; without the relaxation a
        deployment measured slow once (a burst) would miss the SLO, get no traffic and so keep
        its stale estimate forever. Unrefreshed, the distance halves every `ttft_half_life_s`."""
        age = self._clock() - self._ttft_at
        remaining = math.pow(0.5, age / self.ttft_half_life_s)
        return self.expected_ttft_ms + (self._ttft_ms - self.expected_ttft_ms) * remaining

    def observe_ttft(self, ms: float) -> None:
        self._ttft_ms = _ewma(self.ttft_ms, ms)
        self._ttft_at = self._clock()

    def observe_duration(self, ms: float) -> None:
        self.duration_ms = _ewma(self.duration_ms, ms)

    def observe_throughput(self, tokens_per_s: float) -> None:
        self.tokens_per_s = _ewma(self.tokens_per_s, tokens_per_s)

    def reported(self, running: int, waiting: int) -> None:
        """What the backend's /metrics says it holds, and how much of that was ours then."""
        self.backend_running, self.backend_waiting = running, waiting
        self._ours_at_report = self.in_flight

    @property
    def load(self) -> int:
        """Requests on the backend now: ours, counted live, plus the others' (other gateway
        replicas share a backend) as of the last report. Not the report itself: it lags by a
        scrape, and placing on a stale count sends a burst to whichever replica looked empty."""
        others = self.backend_running + self.backend_waiting - self._ours_at_report
        return self.in_flight + max(0, others)

    def predicted_ttft_ms(self) -> float:
        """Below capacity: the EWMA TTFT. At or above it, a new request first waits for slots
        to free: each queued wave costs about one mean request duration."""
        ttft = self.ttft_ms
        excess = self.load - self.max_concurrency + 1
        if excess <= 0:
            return ttft
        duration = self.duration_ms if self.duration_ms is not None else 10 * ttft
        return ttft + excess * duration / self.max_concurrency


_WANTED = (
    b"vllm:num_requests_running{",
    b"vllm:num_requests_waiting{",
    b"vllm:generation_tokens_total{",
)
_KV_USAGE = b"vllm:kv_cache_usage_perc{"


class VllmReport(NamedTuple):
    running: float
    waiting: float
    generated: float
    kv_cache_usage: float | None  # the fullest engine's; None when not reported


def parse_vllm_metrics(text: bytes) -> VllmReport:
    """Running, waiting and generated tokens summed over engines, KV-cache usage of the fullest.

    A line scan for four series, not a full Prometheus parse: vLLM's page has hundreds of
    histogram lines and this runs on the gateway's event loop every scrape."""
    sums = [0.0, 0.0, 0.0]
    usage: float | None = None
    for line in text.splitlines():
        if line.startswith(b"vllm:"):
            for index, prefix in enumerate(_WANTED):
                if line.startswith(prefix):
                    sums[index] += float(line.rsplit(b" ", 1)[1])
            if line.startswith(_KV_USAGE):
                usage = max(usage or 0.0, float(line.rsplit(b" ", 1)[1]))
    return VllmReport(sums[0], sums[1], sums[2], usage)


class VllmStatsScraper:
    """Scrapes a vLLM backend's `/metrics` every `interval_s` into its LiveStats."""

    def __init__(self, backend: OpenAIBackend, stats: LiveStats, interval_s: float) -> None:
        self.backend = backend
        self.stats = stats
        self.interval_s = interval_s
        self.url = backend.base_url.removesuffix("/v1") + "/metrics"
        self._last: tuple[float, float] | None = None  # (monotonic time, generated tokens)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"stats-{self.backend.name}")

    async def scrape_once(self) -> None:
        text = await self.backend.fetch_bytes(self.url)
        if text is None:  # no report: count only what we sent, not a stale gauge
            self.stats.reported(0, 0)
            self.stats.kv_cache_usage = None
            return
        running, waiting, generated, self.stats.kv_cache_usage = parse_vllm_metrics(text)
        now = time.monotonic()
        busy = running > 0 or self.stats.backend_running > 0
        if self._last is not None and busy and generated > self._last[1]:
            self.stats.observe_throughput((generated - self._last[1]) / (now - self._last[0]))
        self._last = (now, generated)
        self.stats.reported(int(running), int(waiting))

    async def _loop(self) -> None:
        while True:
            try:
                await self.scrape_once()
            except Exception:
                log.warning("stats scrape of %s failed", self.backend.name, exc_info=True)
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
