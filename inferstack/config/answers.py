"""Typed configuration of the answer cache: exact (normalised request) cache of deterministic
answers, per tenant, in this process or in Redis. No logic here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from inferstack.config.base import Strict


class AnswerCacheConfig(Strict):
    enabled: bool = Field(default=True, description="cache answers of temperature-0 requests")
    store: Literal["local", "redis"] = Field(default="local", description="local: an LRU in this process")
    redis_url: str | None = None
    redis_url_env: str | None = Field(default=None, description="env var holding the Redis URL")
    ttl_s: float = Field(default=300, gt=0, le=7 * 86400, description="how long an answer is reused")
    max_entries: int = Field(default=10_000, ge=1, description="local store: least recently used go first")
    max_answer_chars: int = Field(default=64_000, ge=1, description="longer answers are not stored")
    store_timeout_ms: float = Field(default=250, gt=0, le=10_000, description="per Redis call")

    @model_validator(mode="after")
    def _checks(self) -> AnswerCacheConfig:
        if self.store == "redis" and (self.redis_url is None) == (self.redis_url_env is None):
            raise ValueError("store redis: set exactly one of `redis_url` or `redis_url_env`")
        return self
