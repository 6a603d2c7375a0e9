"""Deployments over a stub backend, for unit tests of routing logic (no HTTP)."""

from __future__ import annotations

from typing import Any

from inferstack.config.models import ModelSpec, RemoteBackend
from inferstack.config.router import BreakerConfig, GpuHourlyCost, PerTokenCost
from inferstack.router.backend import BackendState
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.deployments import Deployment
from inferstack.router.quality import PromptFeatures
from inferstack.router.replicas import Replica
from inferstack.router.stats import LiveStats


class StubBackend:
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = BackendState.HEALTHY
        self.lapses = 0

    @property
    def healthy(self) -> bool:
        return self.state is BackendState.HEALTHY


def deployment(
    name: str,
    *,
    tier: int = 1,
    usd_per_1m: float | None = None,
    usd_per_hour: float = 0.0,
    disabled: str | None = None,
    breaker_failures: int = 1,
    replicas: int = 1,
    **spec: Any,
) -> Deployment:
    cost = (
        PerTokenCost(input_usd_per_1m=usd_per_1m, output_usd_per_1m=usd_per_1m)
        if usd_per_1m is not None
        else GpuHourlyCost(usd_per_hour=usd_per_hour, fallback_tokens_per_s=1000)
    )
    model = ModelSpec(
        name=name, tier=tier, cost=cost, serve=RemoteBackend(base_url=f"http://{name}/v1"), **spec
    )
    return Deployment(
        model,
        [
            Replica(
                f"{name}:{8000 + index}",
                StubBackend(name),  # type: ignore[arg-type]
                CircuitBreaker(BreakerConfig(consecutive_failures=breaker_failures)),
                LiveStats(model.expected_ttft_ms, model.max_concurrency),
            )
            for index in range(replicas)
        ],
        disabled_reason=disabled,
    )


def features(text: str = "hello", **overrides: Any) -> PromptFeatures:
    return PromptFeatures(**{"text": text, "prompt_tokens": 100, "output_tokens": 100, **overrides})
