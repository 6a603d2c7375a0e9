"""Routing policies: given the candidates (each already judged on health, capability, tier,
budget and SLO), pick one deployment and order the rest as the fallback chain."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

from inferstack.config.router import RouterConfig
from inferstack.errors import BackendUnavailable, InferstackError, InvalidRequest
from inferstack.router.deployments import Deployment
from inferstack.router.placement import Placement
from inferstack.router.quality import PromptFeatures


class BudgetExceeded(InferstackError):
    """What the quota store refuses a spent budget with, when routing finds nothing affordable."""

    status = 429
    type = "insufficient_quota"
    code = "insufficient_quota"


@dataclass(frozen=True)
class RouteContext:
    features: PromptFeatures
    tenant: str
    score: float | None  # quality score; None for pinned requests
    need_tier: int
    remaining_usd: float | None  # None = no budget for this tenant
    slo_ttft_ms: float


@dataclass
class Candidate:
    deployment: Deployment
    estimated_cost_usd: float
    predicted_ttft_ms: float
    load: int = 0  # requests running or queued on it now
    blocked: str | None = None  # unavailable or incapable: never used for this request
    below_tier: bool = False
    over_budget: bool = False
    misses_slo: bool = False
    eligible: bool = False

    def why(self, ctx: RouteContext) -> str:
        if self.blocked is not None:
            return self.blocked
        problems = []
        if self.below_tier:
            problems.append(f"tier {self.deployment.spec.tier} < needed {ctx.need_tier}")
        if self.over_budget:
            problems.append(f"estimated ${self.estimated_cost_usd:.6f} > remaining budget")
        if self.misses_slo:
            problems.append(
                f"predicted TTFT {self.predicted_ttft_ms:.0f} ms > SLO {ctx.slo_ttft_ms:.0f} ms"
                f" ({self.load} in flight)"
            )
        return "; ".join(problems) or "meets tier, budget and SLO"

    def describe(self, ctx: RouteContext) -> dict[str, Any]:
        return {
            "deployment": self.deployment.name,
            "eligible": self.eligible,
            "why": self.why(ctx),
            "estimated_cost_usd": round(self.estimated_cost_usd, 8),
            "predicted_ttft_ms": round(self.predicted_ttft_ms, 1),
            "tier": self.deployment.spec.tier,
        }


@dataclass
class Decision:
    deployment: Deployment
    reason: str
    ctx: RouteContext
    candidates: list[Candidate] = field(default_factory=list)
    fallbacks: list[Deployment] = field(default_factory=list)
    placement: Placement | None = None  # the chosen deployment's replica order (set when called)

    @property
    def estimated_cost_usd(self) -> float:
        for candidate in self.candidates:
            if candidate.deployment is self.deployment:
                return candidate.estimated_cost_usd
        features = self.ctx.features
        return self.deployment.price.usd(features.prompt_tokens, features.output_tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.name,
            "reason": self.reason,
            "score": None if self.ctx.score is None else round(self.ctx.score, 4),
            "needed_tier": self.ctx.need_tier,
            "estimated_cost_usd": round(self.estimated_cost_usd, 8),
            "candidates": [c.describe(self.ctx) for c in self.candidates],
        }


def judge(deployment: Deployment, ctx: RouteContext) -> Candidate:
    """Everything a policy needs to know about one deployment for this request."""
    spec, features = deployment.spec, ctx.features
    candidate = Candidate(
        deployment,
        estimated_cost_usd=deployment.price.usd(features.prompt_tokens, features.output_tokens),
        predicted_ttft_ms=deployment.predicted_ttft_ms(),
        load=deployment.load,
    )
    candidate.blocked = deployment.unavailable_why() or _incapable_why(deployment, features)
    candidate.below_tier = spec.tier < ctx.need_tier
    candidate.over_budget = ctx.remaining_usd is not None and candidate.estimated_cost_usd > ctx.remaining_usd
    candidate.misses_slo = candidate.predicted_ttft_ms > ctx.slo_ttft_ms
    return candidate


def _incapable_why(deployment: Deployment, features: PromptFeatures) -> str | None:
    spec = deployment.spec
    if features.needs_tools and not spec.capabilities.tools:
        return "no tool support"
    if features.needs_json and not spec.capabilities.json_mode:
        return "no JSON mode"
    if features.prompt_tokens + 1 > spec.max_context:
        return f"prompt ~{features.prompt_tokens} tokens > context {spec.max_context}"
    return None


def no_usable_error(candidates: list[Candidate], ctx: RouteContext) -> InferstackError:
    """Every candidate is blocked: a client mistake (400) if all were reachable, else 503."""
    if any(c.deployment.unavailable_why() is None for c in candidates):
        param = "tools" if ctx.features.needs_tools else "messages"
        reasons = "; ".join(f"{c.deployment.name}: {c.blocked}" for c in candidates)
        return InvalidRequest(f"no deployment can serve this request ({reasons})", param=param)
    return BackendUnavailable("no deployment is available right now")


class RoutingPolicy(abc.ABC):
    """Picks one deployment; the others that could serve follow as the fallback chain."""

    def __init__(self, config: RouterConfig, default: Deployment) -> None:
        self.config = config
        self.default = default

    @abc.abstractmethod
    def choose(self, candidates: list[Candidate], ctx: RouteContext) -> Decision: ...


class DefaultPolicy(RoutingPolicy):
    """Always the configured default deployment while it can serve; else the cheapest other."""

    def choose(self, candidates: list[Candidate], ctx: RouteContext) -> Decision:
        usable = [c for c in candidates if c.blocked is None]
        if not usable:
            raise no_usable_error(candidates, ctx)
        usable.sort(key=lambda c: (c.deployment is not self.default, c.estimated_cost_usd))
        for c in usable:
            c.eligible = True
        reason = "default" if usable[0].deployment is self.default else "default_unavailable"
        return Decision(usable[0].deployment, reason, ctx, candidates, [c.deployment for c in usable[1:]])


class CostAwarePolicy(RoutingPolicy):
    """Cheapest deployment that meets the quality tier, the tenant's budget and the latency SLO.
    When the cheap self-hosted capacity would miss the SLO, spill to the next one (a managed
    API); when the needed tier is over budget, downgrade or refuse (config)."""

    def choose(self, candidates: list[Candidate], ctx: RouteContext) -> Decision:
        usable = [c for c in candidates if c.blocked is None]
        if not usable:
            raise no_usable_error(candidates, ctx)
        by_cost = sorted(usable, key=lambda c: (c.estimated_cost_usd, -c.deployment.spec.tier))
        fit = [c for c in by_cost if not c.below_tier and not c.over_budget]
        chosen: Candidate
        if fit:
            meeting = [c for c in fit if not c.misses_slo]
            if meeting:
                chosen, reason = meeting[0], "cheapest" if meeting[0] is fit[0] else "slo_spill"
            else:
                chosen, reason = min(fit, key=lambda c: c.predicted_ttft_ms), "slo_best_effort"
            eligible = meeting or fit
        else:
            affordable = [c for c in by_cost if not c.over_budget]
            budget_bound = any(not c.below_tier for c in usable)  # the tier exists but costs too much
            if not affordable or (budget_bound and self.config.budget_exhausted == "reject"):
                raise BudgetExceeded("what the budget has left does not cover this request on any deployment")
            if budget_bound:
                chosen, reason = affordable[0], "budget_downgrade"
            else:  # no deployment of the needed tier can serve now: the strongest one that can
                chosen = max(affordable, key=lambda c: (c.deployment.spec.tier, -c.estimated_cost_usd))
                reason = "needed_tier_unavailable"
            eligible = [chosen]
        for c in eligible:
            c.eligible = True
        # Fallback chain: whatever else can serve, best fit first, then cheapest.
        rest = sorted(
            (c for c in usable if c is not chosen and not c.over_budget),
            key=lambda c: (c.below_tier or c.over_budget, c.estimated_cost_usd),
        )
        return Decision(chosen.deployment, reason, ctx, candidates, [c.deployment for c in rest])


POLICIES: dict[str, type[RoutingPolicy]] = {"cost-aware": CostAwarePolicy, "default": DefaultPolicy}


def build_policy(config: RouterConfig, default: Deployment) -> RoutingPolicy:
    return POLICIES[config.policy](config, default)  # the name was checked with the config
