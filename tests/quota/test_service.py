"""QuotaService: which limits a call is counted against, and what happens when Redis goes away
(a real redis-server, killed and started again on the same port)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from inferstack.config.quotas import Limits, QuotasConfig
from inferstack.quota.metrics import QuotaMetrics
from inferstack.quota.redis_store import RedisQuotaStore
from inferstack.quota.service import RETRY_AFTER_ERROR_S, QuotaService
from inferstack.quota.store import QuotaExceeded, QuotaStoreUnavailable
from loadtest.redis_server import RedisServer


def service(
    config: QuotasConfig, store: RedisQuotaStore | None = None, usd: dict[str, float] | None = None
) -> QuotaService:
    return QuotaService(config, QuotaMetrics(CollectorRegistry()), usd or {}, store)


def test_subjects_are_the_key_and_the_tenant_with_their_own_limits() -> None:
    config = QuotasConfig(
        default=Limits(requests_per_minute=100),
        tenants=({"tenant": "acme", "tokens_per_minute": 5000},),  # type: ignore[arg-type]
    )
    quotas = service(config, usd={"acme": 3.0})
    key, team = quotas.subjects("acme", "k1", Limits(concurrent_requests=2))
    assert (key.name, key.limits.concurrent_requests) == ("key:k1", 2)
    assert (team.name, team.limits.tokens_per_minute, team.limits.usd_per_day) == ("tenant:acme", 5000, 3.0)
    assert [s.name for s in quotas.subjects("other", "k2", Limits())] == ["tenant:other"]  # k2: none
    assert quotas.subjects("other", None, None)[0].limits.requests_per_minute == 100  # the default
    listed = service(QuotasConfig(default=Limits(requests_per_minute=1), tenants=({"tenant": "vip"},)))  # type: ignore[arg-type]
    assert listed.subjects("vip", None, None) == ()  # listed without limits: none, not the default


async def test_redis_down_fails_open_counting_locally_then_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    store = RedisQuotaStore.from_url(server.url, 0.25)
    quotas = service(QuotasConfig(default=Limits(requests_per_minute=2)), store)
    subjects = quotas.subjects("acme", None, None)
    assert (await quotas.admit(subjects, 1)).store is store
    server.stop()
    fallback = await quotas.admit(subjects, 1)  # Redis gone: served, counted in this process
    assert fallback.store is quotas.local
    await quotas.admit(subjects, 1)
    with pytest.raises(QuotaExceeded):
        await quotas.admit(subjects, 1)  # the local count still enforces the limit
    errors = quotas.metrics.store_errors.labels("redis", "open")._value.get()
    assert errors == 1  # one failed call; later ones skipped Redis for a second
    server.start()  # same port
    await asyncio.sleep(RETRY_AFTER_ERROR_S + 0.1)
    assert (await quotas.admit(subjects, 1)).store is store  # back on Redis by itself
    await quotas.aclose()
    server.stop()


async def test_redis_down_fails_closed_with_503_when_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path).start()
    store = RedisQuotaStore.from_url(server.url, 0.25)
    quotas = service(QuotasConfig(default=Limits(requests_per_minute=50), on_store_error="closed"), store)
    subjects = quotas.subjects("acme", None, None)
    grant = await quotas.admit(subjects, 1)
    server.stop()
    with pytest.raises(QuotaStoreUnavailable) as refused:
        await quotas.admit(subjects, 1)
    assert (refused.value.status, refused.value.headers["Retry-After"]) == (503, "1")
    quotas.settle(grant, 1, 0.0)  # a lost settlement is logged, never raised
    await quotas.drain()
    assert "a settlement was lost" in caplog.text
    assert quotas.local.leases == {}  # never redirected to this process's counts
    await quotas.aclose()
