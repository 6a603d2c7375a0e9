"""Both quota stores against the same table of behaviours: the in-process one, and Redis (a
real redis-server on loopback) through its Lua scripts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from inferstack.config.quotas import Limits
from inferstack.quota.redis_store import RedisQuotaStore
from inferstack.quota.store import NANO, LocalQuotaStore, QuotaExceeded, QuotaStore, Subject
from loadtest.redis_server import RedisServer

LEASE_S = 60.0


@pytest.fixture(params=["local", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[QuotaStore]:
    if request.param == "local":
        yield LocalQuotaStore()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    client = aioredis.Redis.from_url(server.url)
    yield RedisQuotaStore(client, prefix=f"test-{os.urandom(4).hex()}:")  # each test its own keys
    await client.aclose()


def lease() -> str:
    return os.urandom(6).hex()


def tenant(**limits: float) -> tuple[Subject, ...]:
    return (Subject("tenant:acme", Limits(**limits)),)  # type: ignore[arg-type]


async def test_requests_per_minute_admits_the_limit_then_refuses(store: QuotaStore) -> None:
    subjects = tenant(requests_per_minute=3)
    grants = [await store.admit(subjects, 10, lease(), LEASE_S) for _ in range(3)]
    assert [g.standing[0].requests for g in grants] == pytest.approx([2, 1, 0], abs=0.01)
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit(subjects, 10, lease(), LEASE_S)
    error = refused.value
    assert (error.status, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
    assert 19 <= int(error.headers["Retry-After"]) <= 21  # one request refills in 60/3 s
    assert "requests per minute limit (3) of this tenant" in error.message and "acme" not in error.message


async def test_tokens_are_reserved_then_settled_to_the_real_use(store: QuotaStore) -> None:
    subjects = tenant(tokens_per_minute=100)
    first = await store.admit(subjects, 60, lease(), LEASE_S)
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit(subjects, 60, lease(), LEASE_S)
    assert refused.value.type == "tokens"
    await store.settle(first, 20, 0)  # it used 20 of the 60 it reserved: 40 come back
    second = await store.admit(subjects, 60, lease(), LEASE_S)
    assert second.standing[0].tokens == pytest.approx(20, abs=0.5)


async def test_a_request_bigger_than_the_token_limit_says_so_without_retry_after(store: QuotaStore) -> None:
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit(tenant(tokens_per_minute=100), 500, lease(), LEASE_S)
    assert "needs about 500 tokens" in refused.value.message and "Retry-After" not in refused.value.headers


async def test_concurrency_slots_free_on_settle_and_when_their_lease_expires(store: QuotaStore) -> None:
    subjects = tenant(concurrent_requests=2)
    first = await store.admit(subjects, 1, lease(), LEASE_S)
    await store.admit(subjects, 1, lease(), 0.3)
    with pytest.raises(QuotaExceeded) as refused:
        await store.admit(subjects, 1, lease(), LEASE_S)
    assert refused.value.type == "concurrent_requests"
    await store.settle(first, 1, 0)
    await store.admit(subjects, 1, lease(), LEASE_S)  # the settled slot is free again
    await asyncio.sleep(0.4)  # the short lease (a replica that died holding it) has expired
    await store.admit(subjects, 1, lease(), LEASE_S)


async def test_usd_budget_counts_reservations_until_they_settle(store: QuotaStore) -> None:
    subjects = tenant(usd_per_day=1.0)
    first = await store.admit(subjects, 1, lease(), LEASE_S)
    assert first.budget_left_usd == pytest.approx(1.0)
    await store.reserve_usd(first, round(0.6 * NANO))
    second = await store.admit(subjects, 1, lease(), LEASE_S)
    assert second.budget_left_usd == pytest.approx(0.4)
    with pytest.raises(QuotaExceeded) as refused:
        await store.reserve_usd(second, round(0.6 * NANO))
    assert (refused.value.code, refused.value.type) == ("insufficient_quota", "insufficient_quota")
    assert second.usd_nano == 0
    await store.settle(first, 1, round(0.1 * NANO))  # it cost 0.1, not the 0.6 reserved
    await store.reserve_usd(second, round(0.6 * NANO))
    await store.settle(second, 1, round(0.9 * NANO))  # dearer than estimated: spend reaches 1.0
    with pytest.raises(QuotaExceeded) as spent:
        await store.admit(subjects, 1, lease(), LEASE_S)
    assert spent.value.kind == "usd_per_day" and int(spent.value.headers["Retry-After"]) <= 86400


async def test_an_admission_takes_from_every_subject_or_from_none(store: QuotaStore) -> None:
    team = Subject("tenant:acme", Limits(requests_per_minute=5))
    key = Subject("key:k1", Limits(requests_per_minute=1))
    await store.admit((key, team), 1, lease(), LEASE_S)
    with pytest.raises(QuotaExceeded):
        await store.admit((key, team), 1, lease(), LEASE_S)  # the key refuses ...
    other = await store.admit((team,), 1, lease(), LEASE_S)
    assert other.standing[0].requests == pytest.approx(3, abs=0.01)  # ... and the tenant lost nothing


async def test_redis_is_exact_under_concurrent_admissions_from_two_clients(redis_server: RedisServer) -> None:
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(2)]
    prefix = f"race-{os.urandom(4).hex()}:"
    stores = [RedisQuotaStore(c, prefix=prefix) for c in clients]  # two replicas, one Redis
    subjects = tenant(requests_per_minute=10)

    async def one(i: int) -> bool:
        try:
            await stores[i % 2].admit(subjects, 1, lease(), LEASE_S)
            return True
        except QuotaExceeded:
            return False

    admitted = await asyncio.gather(*(one(i) for i in range(60)))
    assert sum(admitted) == 10
    for client in clients:
        await client.aclose()
