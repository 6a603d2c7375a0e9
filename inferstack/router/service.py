"""The router: scores a request, judges every deployment, lets the policy decide, and settles
the actual cost afterwards. `auto` goes through the policy; a pinned model skips it but not
health, breakers or retries."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inferstack.config.router import RouterConfig
from inferstack.errors import BackendUnavailable, PermissionDenied
from inferstack.router.deployments import AUTO, DeploymentTable
from inferstack.router.executor import Executor, Outcome, Target
from inferstack.router.metrics import RouterMetrics
from inferstack.router.placement import Placement, Placer
from inferstack.router.placement_store import LocalPlacementStore, PlacementStore
from inferstack.router.policy import Decision, RouteContext, build_policy, judge
from inferstack.router.quality import PromptFeatures, build_scorer

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.5
CALIBRATION_FILE = "calibration.json"


def load_threshold(config: RouterConfig, router_dir: Path) -> tuple[float, str]:
    """The configured threshold, else the calibrated one, else 0.5; with where it came from."""
    if config.threshold is not None:
        return config.threshold, "config"
    path = router_dir / CALIBRATION_FILE
    try:
        data = json.loads(path.read_text())
        if data.get("scorer") == config.scorer:
            return float(data["threshold"]), str(path)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return DEFAULT_THRESHOLD, "default"


class RouterService:
    def __init__(
        self,
        table: DeploymentTable,
        config: RouterConfig,
        metrics: RouterMetrics,
        threshold: float,
        placement_store: PlacementStore | None = None,
        placement_secret: bytes = b"",
    ) -> None:
        self.table = table
        self.config = config
        self.metrics = metrics
        self.threshold = threshold
        self.scorer = build_scorer(config.scorer)
        self.policy = build_policy(config, table.default)
        self.executor = Executor(config, metrics)
        placing = config.placement
        store = placement_store or LocalPlacementStore(placing.ttl_s, placing.max_entries)
        self.placer = Placer(placing, store, metrics, placement_secret)

    def precheck(self, model: str) -> None:
        """Fail fast (before classification spends CPU) when nothing could serve `model`."""
        if model != AUTO:
            deployment = self.table.pinned(model)
            why = deployment.unavailable_why()
            if why is not None:
                raise BackendUnavailable(f"deployment {deployment.name}: {why}")
        elif all(d.unavailable_why() is not None for d in self.table):
            raise BackendUnavailable("no deployment is available right now")

    def decide(
        self,
        model: str,
        features: PromptFeatures,
        tenant: str,
        remaining: float | None = None,
        allowed: frozenset[str] | None = None,
    ) -> Decision:
        """`remaining`: what the caller's USD budget has left (the quota store's); None = none.
        `allowed`: the deployments the caller's key may use (`auto` chooses among them only)."""
        if model != AUTO:
            pinned = self.table.pinned(model)
            ctx = RouteContext(features, tenant, None, pinned.spec.tier, remaining, self.config.slo_ttft_ms)
            decision = Decision(pinned, "pinned", ctx, [judge(pinned, ctx)])
            decision.candidates[0].eligible = decision.candidates[0].blocked is None
        else:
            score = self.scorer.score(features)
            need = self.config.strong_tier if score >= self.threshold else 1
            ctx = RouteContext(
                features, tenant, score, min(need, self.table.max_tier), remaining, self.config.slo_ttft_ms
            )
            candidates = [judge(d, ctx) for d in self.table if allowed is None or d.name in allowed]
            if not candidates:
                raise PermissionDenied(
                    "this API key may use none of the deployments `auto` picks from", param="model"
                )
            decision = self.policy.choose(candidates, ctx)
        self.metrics.decisions.labels(decision.deployment.name, decision.reason).inc()
        return decision

    async def targets(
        self,
        decision: Decision,
        payload: Callable[[], dict[str, Any]],
        session: str | None,
        outcome: Outcome,
    ) -> list[Target]:
        """Where to try the call, in order: the chosen deployment's replicas as placement orders
        them (`payload`: the body it would get, for the prefix hashes), then each fallback
        deployment's, least loaded first. The served replica is remembered through `outcome`."""
        chosen = decision.deployment
        placement = await self.placer.place(chosen, payload, session)
        decision.placement = placement
        outcome.on_served = lambda target: self._served(placement, target)
        targets = [Target(chosen, replica) for replica in placement.order]
        for fallback in decision.fallbacks:
            replicas = sorted(fallback.available_replicas(), key=lambda r: r.stats.load)
            targets.extend(Target(fallback, replica) for replica in replicas)
        return targets

    def _served(self, placement: Placement, target: Target) -> None:
        if target.deployment is placement.deployment:
            self.placer.served(placement, target.replica)

    def settle(self, decision: Decision, outcome: Outcome, usage: Any) -> float | None:
        """Actual cost from the backend's usage (plus, after a mid-stream failover, the tokens the
        broken deployment produced), counted per tenant; the quota stage charges it to budgets."""
        served = outcome.served_by
        if served is None:
            return None
        tenant, features = decision.ctx.tenant, decision.ctx.features
        total = 0.0
        for failover in outcome.failovers:
            broken = self.table.pinned(failover["from"])
            usd = broken.price.usd(features.prompt_tokens, failover["after_tokens"])
            self.metrics.cost_usd.labels(tenant, broken.name).inc(usd)
            total += usd
        usd_served = served.price.usd_for_usage(usage)
        if usd_served is not None:
            self.metrics.cost_usd.labels(tenant, served.name).inc(usd_served)
            total += usd_served
        return total

    def route_object(
        self, decision: Decision, outcome: Outcome | None, actual_usd: float | None
    ) -> dict[str, Any]:
        """The `inferstack.route` record: the decision, what happened, what it cost."""
        described = decision.describe()
        if decision.placement is not None:
            described["placement"] = decision.placement.describe(self.config.placement.policy)
        if outcome is not None:
            served = outcome.served_by
            described["served_by"] = served.name if served else None
            described["attempts"] = outcome.attempts
            described["failovers"] = outcome.failovers
            if outcome.recovery_ms is not None:
                described["recovery_ms"] = round(outcome.recovery_ms, 1)
        described["actual_cost_usd"] = None if actual_usd is None else round(actual_usd, 8)
        return described

    def dry_run(self, decision: Decision) -> dict[str, Any]:
        """`POST /v1/route`: the contract fields, plus the score and each candidate's numbers."""
        described = decision.describe()
        for candidate, judged in zip(described["candidates"], decision.candidates, strict=True):
            candidate["price"] = judged.deployment.price.describe()
        return {
            "deployment": described["deployment"],
            "reason": described["reason"],
            "estimated_cost_usd": described["estimated_cost_usd"],
            "candidates": described["candidates"],
            "score": described["score"],
            "threshold": self.threshold,
            "needed_tier": described["needed_tier"],
        }

    def refresh_gauges(self) -> None:
        for deployment in self.table:
            for replica in deployment.replicas:
                open_ = replica.breaker.state.value != "closed"
                self.metrics.breaker_open.labels(deployment.name, replica.id).set(1 if open_ else 0)
            self.metrics.predicted_ttft.labels(deployment.name).set(deployment.predicted_ttft_ms() / 1000)
