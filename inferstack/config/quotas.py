"""Typed configuration of quotas and budgets: per API key and per tenant limits, and the store
that counts them (in this process, or Redis shared by every gateway replica). No logic here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from inferstack.config.base import Strict


class Limits(Strict):
    """What one key or tenant may use; an unset limit is no limit."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(
        default=None, ge=1, description="input + output tokens (reserved: prompt estimate + max_tokens)"
    )
    concurrent_requests: int | None = Field(default=None, ge=1)
    usd_per_day: float | None = Field(default=None, ge=0, description="UTC day, the router's cost model")
    usd_per_month: float | None = Field(default=None, ge=0, description="UTC calendar month")

    @property
    def limited(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, name) is not None for name in type(self).model_fields)


class TenantLimits(Limits):
    tenant: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")


class QuotasConfig(Strict):
    store: Literal["local", "redis"] = Field(
        default="local", description="local: counted in this process (one gateway); redis: shared, exact"
    )
    redis_url: str | None = Field(default=None, description="redis://host:6379/0 (or set redis_url_env)")
    redis_url_env: str | None = Field(default=None, description="env var holding the Redis URL")
    on_store_error: Literal["open", "closed"] = Field(
        default="open",
        description="Redis unreachable: open = serve and count in this process; closed = answer 503",
    )
    store_timeout_ms: float = Field(
        default=1000,
        gt=0,
        le=10_000,
        description="per Redis call; it includes the gateway's own event-loop lag, so under load a "
        "tight bound fails calls Redis answered in time",
    )
    lease_s: float = Field(
        default=900,
        gt=0,
        description="a concurrency slot held by a replica that died frees itself after this",
    )
    default: Limits = Field(default=Limits(), description="limits of a tenant not listed in `tenants`")
    tenants: tuple[TenantLimits, ...] = ()

    @model_validator(mode="after")
    def _checks(self) -> QuotasConfig:
        names = [t.tenant for t in self.tenants]
        if len(set(names)) != len(names):
            raise ValueError("tenants: one entry per tenant")
        if self.store == "redis" and (self.redis_url is None) == (self.redis_url_env is None):
            raise ValueError("store redis: set exactly one of `redis_url` or `redis_url_env`")
        return self
