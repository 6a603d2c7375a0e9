"""Metrics of the chat/completions pipeline: wall time per stage, tokens per deployment, retrieved
chunks the guard screened out."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# From 0.1 ms (a routing decision) to minutes (a long generation).
_STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                  2.5, 5.0, 10.0, 30.0, 60.0, 120.0)  # fmt: skip


class PipelineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.stage_seconds = Histogram(
            "inferstack_stage_duration_seconds",
            "Wall time one request spent in a pipeline stage (all its hooks; for `generate`, the "
            "backend call and, on a stream, the wait for each event)",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "inferstack_tokens",
            "Tokens by deployment and direction (prompt=in, completion=out)",
            ["deployment", "direction"],
            registry=registry,
        )

        self.screened_out = Counter(
            "inferstack_retrieval_screened_out_chunks",
            "Retrieved chunks the guard dropped before they reached a prompt (injection)",
            registry=registry,
        )

    def count_usage(self, deployment: str, usage: object) -> None:
        if not isinstance(usage, dict):
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int):
            self.tokens.labels(deployment, "in").inc(prompt)
        if isinstance(completion, int):
            self.tokens.labels(deployment, "out").inc(completion)
