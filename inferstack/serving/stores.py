"""The stores the gateway's limits and cache count in, built from settings: quotas (in this
process or Redis) and the answer cache (an LRU or Redis)."""

from __future__ import annotations

import os

from inferstack.answers.service import AnswerCache
from inferstack.answers.store import AnswerStore, LocalAnswerStore, RedisAnswerStore
from inferstack.config import Settings
from inferstack.quota.metrics import QuotaMetrics
from inferstack.quota.service import QuotaService
from inferstack.serving.metrics import GatewayMetrics


def build_quotas(settings: Settings, metrics: GatewayMetrics) -> QuotaService:
    """The limits of every key and tenant, counted in this process or in Redis."""
    cfg = settings.quotas
    store = None
    if cfg.store == "redis":
        from inferstack.quota.redis_store import RedisQuotaStore

        url = redis_url(settings, "quotas", cfg.redis_url, cfg.redis_url_env)
        store = RedisQuotaStore.from_url(url, cfg.store_timeout_ms / 1000)
    usd_per_day = {b.tenant: b.usd_per_day for b in settings.router.budgets}
    return QuotaService(cfg, QuotaMetrics(metrics.registry), usd_per_day, store)


def redis_url(settings: Settings, section: str, url: str | None, env: str | None) -> str:
    found = url or os.environ.get(env or "", "")
    if not found:
        raise settings.key_error(f"{section}.redis_url_env", f"env var {env} is empty")
    return found


def build_answer_cache(settings: Settings, metrics: GatewayMetrics) -> AnswerCache:
    cfg = settings.answer_cache
    store: AnswerStore
    if cfg.store == "redis":
        url = redis_url(settings, "answer_cache", cfg.redis_url, cfg.redis_url_env)
        store = RedisAnswerStore.from_url(url, cfg.store_timeout_ms / 1000)
    else:
        store = LocalAnswerStore(cfg.max_entries)
    return AnswerCache(cfg, store, metrics.registry)
