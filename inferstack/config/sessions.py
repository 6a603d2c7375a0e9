"""Typed configuration of conversations: where sessions are stored, how long they are kept, how
much history a turn carries. Part of `Settings`; no logic here."""

from __future__ import annotations

from pydantic import Field, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from inferstack.config.base import Strict

DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

TENANT_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


class SessionsConfig(Strict):
    enabled: bool = Field(default=True, description="remember turns of requests that name a session")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL (`postgresql+asyncpg://...` for clusters); default: a "
        "SQLite file `data/sessions.db` in the cache directory",
    )
    retention_days: float = Field(default=30.0, gt=0, description="turns older than this are purged")
    tenant_retention_days: dict[str, float] = Field(
        default_factory=dict, description="per-tenant retention, overriding `retention_days`"
    )
    purge_interval_s: float = Field(default=3600.0, gt=0, description="how often the purge task runs")
    max_history_messages: int = Field(
        default=50, ge=1, le=10_000, description="most stored messages read for one turn"
    )
    retrieval_reserve_tokens: int = Field(
        default=512, ge=0, description="context kept free for retrieved sources when history is fitted"
    )
    answer_reserve_tokens: int = Field(
        default=256, ge=1, description="context kept for the answer when the request sets no max_tokens"
    )
    summaries: bool = Field(
        default=True, description="the local LLM summarises turns that no longer fit into a running summary"
    )
    summary_model: str | None = Field(
        default=None,
        description="deployment that writes summaries; default: the lowest-tier self-hosted vLLM one",
    )
    summary_max_tokens: int = Field(default=160, ge=16, le=2048, description="longest summary, in tokens")
    summary_wait_s: float = Field(
        default=30.0, ge=0, description="how long a turn waits for a summary it needs that is being written"
    )
    long_term_memory: bool = Field(
        default=True, description="embed past turns in Milvus and recall the relevant ones (needs retrieval)"
    )
    recall_turns: int = Field(default=3, ge=1, le=20, description="most past turns recalled for a new turn")
    recall_min_score: float = Field(
        default=0.35, ge=-1, le=1, description="cosine similarity a past turn needs to be recalled"
    )
    recall_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="longest wait for recall (embedding the question and searching); past it the turn "
        "goes on without recalled turns and says so in inferstack.memory.recall",
    )
    recall_reserve_tokens: int = Field(
        default=256, ge=0, description="context kept for recalled turns when history is fitted"
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str | None) -> str | None:
        # Errors never repeat the URL: it may hold a password.
        if value is None:
            return None
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise ValueError("not a SQLAlchemy URL (e.g. postgresql+asyncpg://user:pass@host/db)") from None
        if driver not in DRIVERS:
            raise ValueError(f"driver {driver!r} is not supported; use one of {', '.join(DRIVERS)}")
        return value

    def retention_for(self, tenant: str) -> float:
        return self.tenant_retention_days.get(tenant, self.retention_days)
