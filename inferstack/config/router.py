"""Typed configuration of the router: per-deployment cost, tier and capabilities, and the
policy, resilience and budget settings. Part of `Settings`; no logic here."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from inferstack.config.base import Strict


class GpuHourlyCost(Strict):
    """Self-hosted: $/hour of the machine divided by the tokens/s it actually produces.

    Throughput is measured live from the backend's vLLM `/metrics` while it is busy;
    `fallback_tokens_per_s` is used until a measurement exists (and for `inferstack routes`)."""

    kind: Literal["gpu-hourly"] = "gpu-hourly"
    usd_per_hour: float = Field(default=0.0, ge=0)
    fallback_tokens_per_s: float = Field(default=500.0, gt=0)
    input_cost_ratio: float = Field(
        default=0.1, ge=0, le=1, description="price of a prompt token relative to a generated one"
    )


class PerTokenCost(Strict):
    """Managed API: list prices per million tokens."""

    kind: Literal["per-token"] = "per-token"
    input_usd_per_1m: float = Field(ge=0)
    output_usd_per_1m: float = Field(ge=0)


CostModel = Annotated[GpuHourlyCost | PerTokenCost, Field(discriminator="kind")]


class Capabilities(Strict):
    tools: bool = True
    json_mode: bool = True


class BreakerConfig(Strict):
    """Per-deployment circuit breaker: opens on consecutive failures or on the failure rate of
    the last `window` calls (once `min_calls` were seen); after `cooldown_s` one probe call is let
    through (half-open) and its outcome closes or re-opens the circuit."""

    consecutive_failures: int = Field(default=5, ge=1)
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window: int = Field(default=20, ge=1)
    min_calls: int = Field(default=10, ge=1)
    cooldown_s: float = Field(default=5.0, gt=0)


class RetryConfig(Strict):
    """Retries of idempotent failures (connect errors, 429/502/503/504) before the first byte."""

    attempts_per_deployment: int = Field(default=2, ge=1, le=10)
    backoff_initial_s: float = Field(default=0.05, ge=0)
    backoff_max_s: float = Field(default=1.0, ge=0)
    deadline_s: float = Field(default=30.0, gt=0, description="total time spent on one request's tries")


class TenantBudget(Strict):
    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    usd_per_day: float = Field(ge=0)


class PlacementConfig(Strict):
    """Which replica of the chosen deployment serves a request (a deployment with one replica
    skips this). Affinity and prefix tables live in this process (`local`) or in Redis (shared by
    every gateway replica)."""

    policy: Literal["prefix-aware", "session-affinity", "least-loaded", "round-robin"] = Field(
        default="prefix-aware",
        description="prefix-aware: the replica that recently served the longest prefix of this prompt "
        "(its KV cache likely holds it), unless saturated; session-affinity: a session or `user` "
        "sticks to one replica; least-loaded; round-robin",
    )
    block_chars: int = Field(
        default=512, ge=16, le=4096, description="bytes of the prompt's JSON per hashed block (~4 a token)"
    )
    max_blocks: int = Field(default=128, ge=1, le=4096, description="blocks hashed per prompt at most")
    ttl_s: float = Field(
        default=600,
        gt=0,
        le=86_400,
        description="how long a served prefix or a session's replica is remembered",
    )
    max_entries: int = Field(
        default=200_000, ge=1, description="local store: prefix blocks (and sessions) remembered at most"
    )
    load_weight: float = Field(
        default=1.0,
        ge=0,
        description="prefix-aware: a replica scores the share of the prompt it holds minus this times "
        "its load share (requests on it / max_concurrency)",
    )
    balance: float = Field(
        default=0.25,
        gt=0,
        description="prefix-aware: a replica more than this x max_concurrency requests busier than the "
        "least loaded one does not compete on its cached prefix",
    )
    saturation: float = Field(
        default=1.0,
        gt=0,
        description="a replica whose load reaches this times its max_concurrency is saturated: "
        "placement spills to the least loaded one",
    )
    kv_cache_saturation: float = Field(
        default=0.95, gt=0, le=1, description="a replica whose vLLM KV cache is this full is saturated too"
    )
    store: Literal["local", "redis"] = "local"
    redis_url: str | None = None
    redis_url_env: str | None = Field(default=None, description="env var holding the Redis URL")
    store_timeout_ms: float = Field(
        default=50, gt=0, le=10_000, description="per Redis call; on a timeout this request places locally"
    )

    @model_validator(mode="after")
    def _checks(self) -> PlacementConfig:
        if self.store == "redis" and (self.redis_url is None) == (self.redis_url_env is None):
            raise ValueError("store redis: set exactly one of `redis_url` or `redis_url_env`")
        return self


class RouterConfig(Strict):
    policy: str = Field(default="cost-aware", description="registered routing policy (router/policy.py)")
    scorer: str = Field(default="heuristic", description="registered quality scorer (router/quality.py)")
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="score at or above which a prompt needs the strong tier; "
        "null = use `inferstack router calibrate`'s result, else 0.5",
    )
    strong_tier: int = Field(default=2, ge=1, description="tier a 'needs strong model' prompt requires")
    slo_ttft_ms: float = Field(default=2000.0, gt=0, description="latency SLO: predicted time to first token")
    default_output_tokens: int = Field(
        default=256, ge=1, description="cost estimate when max_tokens is unset"
    )
    stats_interval_s: float = Field(default=1.0, gt=0, description="vLLM /metrics scrape period")
    ttft_half_life_s: float = Field(
        default=10.0,
        gt=0,
        description="a deployment's measured TTFT, when no request refreshes it, halves its distance "
        "to expected_ttft_ms every this many seconds (so one slow burst does not exile it)",
    )
    mid_stream_failover: bool = True
    placement: PlacementConfig = PlacementConfig()
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()
    budgets: tuple[TenantBudget, ...] = ()
    budget_exhausted: Literal["downgrade", "reject"] = Field(
        default="downgrade",
        description="when the needed tier is over budget: take a cheaper tier, or answer 429",
    )

    @model_validator(mode="after")
    def _checks(self) -> RouterConfig:
        # `policy` and `scorer` are registry names, checked when the app is built.
        tenants = [b.tenant for b in self.budgets]
        if len(set(tenants)) != len(tenants):
            raise ValueError("budgets: one entry per tenant")
        return self
