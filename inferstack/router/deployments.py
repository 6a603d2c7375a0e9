"""Deployments (a backend plus its breaker, live stats and price) and the table the router
picks from. Model `auto` lets the policy choose; a concrete name pins a deployment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from inferstack.config.models import ModelSpec
from inferstack.errors import ModelNotFound
from inferstack.router.backend import OpenAIBackend
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.cost import Price, price_of
from inferstack.router.stats import LiveStats

AUTO = "auto"


@dataclass(eq=False)
class Deployment:
    spec: ModelSpec
    backend: OpenAIBackend
    breaker: CircuitBreaker
    stats: LiveStats
    disabled_reason: str | None = None  # e.g. a managed API without its key: never chosen
    price_cache: tuple[float | None, Price] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def price(self) -> Price:
        measured = self.stats.tokens_per_s
        if self.price_cache is None or self.price_cache[0] != measured:
            self.price_cache = (measured, price_of(self.spec.cost, measured))
        return self.price_cache[1]

    def unavailable_why(self) -> str | None:
        """Why no call can go to this deployment now, or None when one can."""
        if self.disabled_reason is not None:
            return self.disabled_reason
        if not self.backend.healthy:
            return f"backend {self.backend.state.value}"
        if not self.breaker.available():
            return "circuit open"
        return None


class DeploymentTable:
    def __init__(self, deployments: list[Deployment], default: str) -> None:
        self._by_name = {d.name: d for d in deployments}
        if default not in self._by_name:
            raise ValueError(f"default deployment {default!r} is not configured")
        self.default = self._by_name[default]
        self.max_tier = max((d.spec.tier for d in deployments if d.disabled_reason is None), default=1)

    def __iter__(self) -> Iterator[Deployment]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def pinned(self, model: str) -> Deployment:
        deployment = self._by_name.get(model)
        if deployment is None:
            raise ModelNotFound(
                f"The model `{model[:100]}` does not exist; GET /v1/models lists the served models",
                param="model",
            )
        return deployment
