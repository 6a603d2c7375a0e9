"""Deployments (one model: its replicas, each with a backend, breaker and live stats; and its
price) and the table the router picks from. Model `auto` lets the policy choose; a concrete
name pins a deployment."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from inferstack.config.models import ModelSpec
from inferstack.errors import BackendUnavailable, ModelNotFound
from inferstack.router.cost import Price, price_of
from inferstack.router.replicas import Replica

AUTO = "auto"


@dataclass(eq=False)
class Deployment:
    spec: ModelSpec
    replicas: list[Replica]  # a DNS-resolved deployment's list changes while it runs
    disabled_reason: str | None = None  # e.g. a managed API without its key: never chosen
    price_cache: tuple[float | None, Price] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tokens_per_s(self) -> float | None:
        """Generation throughput of one replica (the mean of those measured): the hourly price
        is per replica."""
        measured = [r.stats.tokens_per_s for r in self.replicas if r.stats.tokens_per_s is not None]
        return sum(measured) / len(measured) if measured else None

    @property
    def price(self) -> Price:
        measured = self.tokens_per_s
        if self.price_cache is None or self.price_cache[0] != measured:
            self.price_cache = (measured, price_of(self.spec.cost, measured))
        return self.price_cache[1]

    def unavailable_why(self) -> str | None:
        """Why no call can go to this deployment now, or None when one can."""
        if self.disabled_reason is not None:
            return self.disabled_reason
        if not self.replicas:
            return "no replica found"
        if len(self.replicas) == 1:
            return self.replicas[0].unavailable_why()
        if any(r.unavailable_why() is None for r in self.replicas):
            return None
        return f"no replica available ({len(self.replicas)} down or circuit open)"

    def available_replicas(self) -> list[Replica]:
        return [r for r in self.replicas if r.unavailable_why() is None]

    @property
    def healthy(self) -> bool:
        return any(r.backend.healthy for r in self.replicas)

    @property
    def state(self) -> str:
        """The best state of its replicas (healthy if one is), for /ready."""
        if self.healthy:
            return "healthy"
        return self.replicas[0].backend.state.value if self.replicas else "no replicas"

    def _usable(self) -> list[Replica]:
        return self.available_replicas() or self.replicas

    def predicted_ttft_ms(self) -> float:
        """The best replica's prediction: placement sends a new request to a free one."""
        usable = self._usable()
        return min(r.stats.predicted_ttft_ms() for r in usable) if usable else self.spec.expected_ttft_ms

    @property
    def load(self) -> int:
        """Requests on the least loaded replica (the one a request spilled to would wait behind)."""
        usable = self._usable()
        return min(r.stats.load for r in usable) if usable else 0

    def least_loaded(self) -> Replica:
        """A replica for a call outside the router's placement (a summary)."""
        usable = self._usable()
        if not usable:
            raise BackendUnavailable(f"deployment {self.name}: no replica found")
        return min(usable, key=lambda r: r.stats.load)


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
