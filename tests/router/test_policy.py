from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from inferstack.config.router import Capabilities, RouterConfig
from inferstack.errors import BackendUnavailable, InvalidRequest, ModelNotFound, PermissionDenied
from inferstack.router.backend import BackendState
from inferstack.router.deployments import DeploymentTable
from inferstack.router.metrics import RouterMetrics
from inferstack.router.policy import BudgetExceeded
from inferstack.router.service import RouterService
from tests.router.stubs import deployment, features


def router(deployments, *, threshold: float = 0.5, **config) -> RouterService:  # type: ignore[no-untyped-def]
    cfg = RouterConfig(**{"slo_ttft_ms": 1000, **config})
    table = DeploymentTable(deployments, deployments[0].name)
    return RouterService(table, cfg, RouterMetrics(CollectorRegistry()), threshold)


@pytest.fixture
def fleet():  # type: ignore[no-untyped-def]
    return [
        deployment("local-small", tier=1, usd_per_hour=0.36),  # 0.1 $/1M out at 1000 tok/s
        deployment("local-big", tier=2, usd_per_hour=3.6),  # 1.0 $/1M
        deployment("managed", tier=2, usd_per_1m=5.0),
    ]


EASY = features("hi", intent="greeting", intent_score=0.99)
HARD = features("Implement an LRU cache in Go", intent="coding", intent_score=0.99)


def test_cheapest_deployment_that_meets_the_tier(fleet) -> None:  # type: ignore[no-untyped-def]
    svc = router(fleet)
    easy = svc.decide("auto", EASY, "t")
    assert (easy.deployment.name, easy.reason, easy.ctx.need_tier) == ("local-small", "cheapest", 1)
    assert [d.name for d in easy.fallbacks] == ["local-big", "managed"]
    hard = svc.decide("auto", HARD, "t")
    assert (hard.deployment.name, hard.reason, hard.ctx.need_tier) == ("local-big", "cheapest", 2)
    assert [d.name for d in hard.fallbacks] == ["managed", "local-small"]  # tier fit first
    why = {c.deployment.name: c.why(hard.ctx) for c in hard.candidates}
    assert why["local-small"] == "tier 1 < needed 2"


def test_spills_to_the_next_deployment_when_the_slo_would_be_missed(fleet) -> None:  # type: ignore[no-untyped-def]
    small = fleet[0]
    small.replicas[0].stats.observe_duration(3000)
    small.replicas[0].stats.in_flight = (
        3 * small.replicas[0].stats.max_concurrency
    )  # two waves queued: ~2 x 3000/8 ms
    decision = router(fleet).decide("auto", EASY, "t")
    assert (decision.deployment.name, decision.reason) == ("local-big", "slo_spill")
    why = next(c for c in decision.candidates if c.deployment is small).why(decision.ctx)
    assert "> SLO 1000 ms (24 in flight)" in why


def test_best_effort_when_every_deployment_misses_the_slo(fleet) -> None:  # type: ignore[no-untyped-def]
    for d, duration in zip(fleet, (9000, 3000, 6000), strict=True):
        d.replicas[0].stats.observe_duration(duration)
        d.replicas[0].stats.reported(0, 20)
    decision = router(fleet).decide("auto", EASY, "t")
    assert (decision.deployment.name, decision.reason) == ("local-big", "slo_best_effort")


def test_budget_downgrade_or_reject(fleet) -> None:  # type: ignore[no-untyped-def]
    left = 0.00005  # local-big would cost 0.0001
    downgraded = router(fleet).decide("auto", HARD, "acme", left)
    assert (downgraded.deployment.name, downgraded.reason) == ("local-small", "budget_downgrade")
    assert [d.name for d in downgraded.fallbacks] == []  # nothing else is affordable
    with pytest.raises(BudgetExceeded) as refused:
        router(fleet, budget_exhausted="reject").decide("auto", HARD, "acme", left)
    assert refused.value.status == 429 and refused.value.code == "insufficient_quota"
    with pytest.raises(BudgetExceeded):
        router(fleet).decide("auto", EASY, "acme", 0.0)


def test_unavailable_deployments_are_skipped_with_a_reason(fleet) -> None:  # type: ignore[no-untyped-def]
    fleet[1].replicas[0].backend.state = BackendState.RESTARTING
    fleet[1].replicas[0].breaker.record_failure()  # consecutive_failures=1: open
    fleet.append(deployment("cheap-nokey", tier=2, usd_per_1m=0.01, disabled="no API key (env K is empty)"))
    decision = router(fleet).decide("auto", HARD, "t")
    assert (decision.deployment.name, decision.reason) == ("managed", "cheapest")
    why = {c.deployment.name: c.why(decision.ctx) for c in decision.candidates}
    assert why["local-big"] == "backend restarting" and why["cheap-nokey"].startswith("no API key")


def test_needed_tier_unavailable_takes_the_strongest_that_can_serve(fleet) -> None:  # type: ignore[no-untyped-def]
    for d in fleet[1:]:
        d.replicas[0].backend.state = BackendState.UNHEALTHY
    decision = router(fleet).decide("auto", HARD, "t")
    assert (decision.deployment.name, decision.reason) == ("local-small", "needed_tier_unavailable")


def test_capabilities_and_context_filter(fleet) -> None:  # type: ignore[no-untyped-def]
    fleet[0] = deployment("local-small", tier=1, capabilities=Capabilities(tools=False), max_context=4096)
    decision = router(fleet).decide("auto", features(needs_tools=True), "t")
    assert decision.deployment.name == "local-big"
    assert "no tool support" in {c.why(decision.ctx) for c in decision.candidates}
    with pytest.raises(InvalidRequest) as too_long:
        router(fleet).decide("auto", features(prompt_tokens=10_000), "t")
    assert too_long.value.param == "messages"


def test_nothing_available_is_503(fleet) -> None:  # type: ignore[no-untyped-def]
    for d in fleet:
        d.replicas[0].backend.state = BackendState.UNHEALTHY
    svc = router(fleet)
    with pytest.raises(BackendUnavailable):
        svc.precheck("auto")
    with pytest.raises(BackendUnavailable):
        svc.decide("auto", EASY, "t")


def test_pinning_bypasses_policy_but_not_health(fleet) -> None:  # type: ignore[no-untyped-def]
    svc = router(fleet)
    pinned = svc.decide("managed", EASY, "t")
    assert (pinned.deployment.name, pinned.reason, pinned.fallbacks) == ("managed", "pinned", [])
    fleet[2].replicas[0].backend.state = BackendState.UNHEALTHY
    with pytest.raises(BackendUnavailable):
        svc.precheck("managed")
    with pytest.raises(ModelNotFound):
        svc.precheck("nope")


def test_default_policy_prefers_the_configured_default(fleet) -> None:  # type: ignore[no-untyped-def]
    svc = router(fleet, policy="default")
    assert svc.decide("auto", HARD, "t").reason == "default"
    fleet[0].replicas[0].backend.state = BackendState.UNHEALTHY
    fallback = svc.decide("auto", HARD, "t")
    assert (fallback.deployment.name, fallback.reason) == ("local-big", "default_unavailable")


def test_dry_run_has_the_contract_fields(fleet) -> None:  # type: ignore[no-untyped-def]
    svc = router(fleet)
    body = svc.dry_run(svc.decide("auto", HARD, "t"))
    assert {"deployment", "reason", "estimated_cost_usd", "candidates"} <= set(body)
    for candidate in body["candidates"]:
        assert {"deployment", "eligible", "why", "estimated_cost_usd"} <= set(candidate)
    assert body["estimated_cost_usd"] == pytest.approx(100 * 1.0e-6 * 0.1 + 100 * 1.0e-6, rel=1e-3)


def test_auto_picks_only_among_the_deployments_the_key_may_use(fleet) -> None:  # type: ignore[no-untyped-def]
    decision = router(fleet).decide("auto", HARD, "acme", None, frozenset({"local-small"}))
    assert decision.deployment.name == "local-small" and [c.deployment.name for c in decision.candidates] == [
        "local-small"
    ]
    with pytest.raises(PermissionDenied) as refused:
        router(fleet).decide("auto", HARD, "acme", None, frozenset({"elsewhere"}))
    assert (refused.value.status, refused.value.param) == (403, "model")
