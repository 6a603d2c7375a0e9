"""The deployment table: model names a client may send, mapped to backends.

Until the cost-aware policy lands, `auto` resolves to the configured default deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from inferstack.config import ModelSpec
from inferstack.errors import ModelNotFound
from inferstack.router.backend import OpenAIBackend

AUTO = "auto"


@dataclass(frozen=True)
class Deployment:
    spec: ModelSpec
    backend: OpenAIBackend

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class RouteDecision:
    deployment: Deployment
    reason: str  # "pinned" (client named it) or "default" (model `auto`)

    def describe(self) -> dict[str, str]:
        return {"deployment": self.deployment.name, "reason": self.reason}


class DeploymentTable:
    def __init__(self, deployments: list[Deployment], default: str) -> None:
        self._by_name = {d.name: d for d in deployments}
        if default not in self._by_name:
            raise ValueError(f"default deployment {default!r} is not configured")
        self.default = self._by_name[default]

    def __iter__(self) -> Iterator[Deployment]:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return list(self._by_name)

    def resolve(self, model: str) -> RouteDecision:
        if model == AUTO:
            return RouteDecision(self.default, "default")
        deployment = self._by_name.get(model)
        if deployment is None:
            raise ModelNotFound(
                f"The model `{model[:100]}` does not exist; GET /v1/models lists the served models",
                param="model",
            )
        return RouteDecision(deployment, "pinned")
