"""Cost model: USD per token for a deployment, and estimates / actuals per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inferstack.config.router import CostModel, GpuHourlyCost

_MILLION = 1_000_000


@dataclass(frozen=True)
class Price:
    input_usd_per_1m: float
    output_usd_per_1m: float
    basis: str  # "list price", "measured N tok/s", "fallback N tok/s"

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_usd_per_1m + completion_tokens * self.output_usd_per_1m) / _MILLION

    def usd_for_usage(self, usage: Any) -> float | None:
        if not isinstance(usage, dict):
            return None
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not isinstance(prompt, int) or not isinstance(completion, int):
            return None
        return self.usd(prompt, completion)

    def describe(self) -> dict[str, Any]:
        return {
            "input_usd_per_1m": round(self.input_usd_per_1m, 6),
            "output_usd_per_1m": round(self.output_usd_per_1m, 6),
            "basis": self.basis,
        }


def price_of(cost: CostModel, measured_tokens_per_s: float | None) -> Price:
    """Self-hosted: $/hour / (tokens/s x 3600) per token, from live throughput when measured.
    Managed: the configured list prices."""
    if not isinstance(cost, GpuHourlyCost):
        return Price(cost.input_usd_per_1m, cost.output_usd_per_1m, "list price")
    if measured_tokens_per_s:
        tokens_per_s, basis = measured_tokens_per_s, f"measured {measured_tokens_per_s:.0f} tok/s"
    else:
        tokens_per_s = cost.fallback_tokens_per_s
        basis = f"fallback {tokens_per_s:.0f} tok/s"
    output = cost.usd_per_hour / (tokens_per_s * 3600) * _MILLION
    return Price(output * cost.input_cost_ratio, output, basis)
