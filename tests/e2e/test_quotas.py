"""Keys and quotas across replicas: two real gateway processes share one real Redis, one key
database and the real vLLM of the session; every limit holds whichever replica a request
reaches, a key revoked on one is refused by the other within a second, and Redis going away is
answered by each gateway's configured mode, then recovered from by itself."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from loadtest.redis_server import RedisServer
from tests.e2e.conftest import Gateway, start_gateway, wait_for

pytestmark = pytest.mark.e2e

KEYS = {
    "rpm": "isk-test-rpm-0123456789",
    "budget": "isk-test-budget-0123456789",
    "free": "isk-test-free-01234",
}
ADMIN = "test-admin-key-0123456789"
BUDGET_USD = 0.05
MAX_TOKENS = 4
# Input is free and each output token costs $0.001: a reservation (max_tokens) always covers
# the real cost, so admitted reservations bound the spend exactly.
PRICE = {"kind": "per-token", "input_usd_per_1m": 0.0, "output_usd_per_1m": 1000.0}


def _light_config(redis_url: str, on_error: str, keys_db: Path) -> dict[str, object]:
    return {
        "guard": {"enabled": False},
        "classifier": {"enabled": False},
        "retrieval": {"enabled": False},
        "sessions": {"enabled": False},
        "embeddings": {"enabled": False},
        "auth": {
            "api_keys": [
                *({"tenant": t, "key": k} for t, k in KEYS.items()),
                {"tenant": "ops", "key": ADMIN, "admin": True},
            ],
            "database_url": f"sqlite+aiosqlite:///{keys_db}",  # one key store for both replicas
        },
        "quotas": {
            "store": "redis",
            "redis_url": redis_url,
            "on_store_error": on_error,
            # vLLM takes both cores of the test box while 200 requests run: the gateways' event
            # loops lag by more than the default 1 s, which would read as Redis being down.
            "store_timeout_ms": 5000,
            "tenants": [
                {"tenant": "rpm", "requests_per_minute": 4},
                {"tenant": "budget", "usd_per_day": BUDGET_USD},
                {"tenant": "free", "requests_per_minute": 10_000},
            ],
        },
    }


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("quota-redis")).start()  # this module kills it
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, gateway: Gateway, own_redis: RedisServer
) -> Iterator[tuple[Gateway, Gateway]]:
    remote = {"kind": "remote", "base_url": f"{gateway.vllm_url}/v1"}
    keys_db = tmp_path_factory.mktemp("keys") / "keys.db"
    started = []
    for name, mode in (("open", "open"), ("closed", "closed")):
        started.append(
            start_gateway(
                tmp_path_factory.mktemp(f"replica-{name}"),
                local_model={"serve": remote, "served_name": "smollm2-135m", "cost": PRICE},
                extra_config=_light_config(own_redis.url, mode, keys_db),
                extra_env={"INFERSTACK_KEY_SECRET": "one-secret-for-every-replica"},
            )
        )
    yield started[0], started[1]
    for replica in started:
        replica.terminate()


def _chat(url: str, key: str, content: str = "Hi") -> httpx.Response:
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": content}],
            "max_tokens": MAX_TOKENS, "temperature": 0}  # fmt: skip
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"},
                      timeout=120)  # fmt: skip


def test_the_request_over_the_rpm_limit_is_refused_whichever_replica_gets_it(
    replicas: tuple[Gateway, Gateway],
) -> None:
    a, b = replicas
    answers = [_chat(replica.url, KEYS["rpm"]) for replica in (a, b, a, b)]
    assert [r.status_code for r in answers] == [200] * 4
    assert [r.headers["x-ratelimit-remaining-requests"] for r in answers] == ["3", "2", "1", "0"]
    assert {r.headers["x-ratelimit-limit-requests"] for r in answers} == {"4"}
    for replica in (a, b):
        refused = _chat(replica.url, KEYS["rpm"])
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert (error["code"], error["type"]) == ("rate_limit_exceeded", "requests")
        assert 1 <= int(refused.headers["Retry-After"]) <= 15  # one request refills in 60/4 s
        assert KEYS["rpm"] not in refused.text


def test_concurrent_requests_on_both_replicas_never_overspend_the_budget(
    replicas: tuple[Gateway, Gateway], own_redis: RedisServer
) -> None:
    a, b = replicas
    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        futures = [
            pool.submit(_chat, (a, b)[i % 2].url, KEYS["budget"], f"Count to {i}.") for i in range(200)
        ]
        answers = [f.result() for f in futures]
    served = [r for r in answers if r.status_code == 200]
    refused = [r for r in answers if r.status_code == 429]
    assert len(served) + len(refused) == 200, {r.status_code for r in answers}
    assert {r.json()["error"]["code"] for r in refused} == {"insufficient_quota"}
    spent = sum(r.json()["inferstack"]["route"]["actual_cost_usd"] for r in served)
    assert served and spent <= BUDGET_USD + 1e-9, (len(served), spent)
    store = redis.Redis.from_url(own_redis.url)

    def counted() -> float:  # settlements land just after each answer
        return int(store.get(_spend_key("budget")) or 0) / 1e9

    wait_for(lambda: abs(counted() - spent) < 1e-9, 5, lambda: f"store {counted()} vs settled {spent}")


def test_a_key_made_on_one_replica_works_on_the_other_and_its_revocation_too(
    replicas: tuple[Gateway, Gateway],
) -> None:
    a, b = replicas
    admin = {"Authorization": f"Bearer {ADMIN}"}
    body = {"tenant": "team-k", "name": "ci", "limits": {"requests_per_minute": 100}}
    made = httpx.post(f"{a.url}/v1/admin/keys", headers=admin, json=body, timeout=30)
    assert made.status_code == 201, made.text
    created = made.json()
    key = created["key"]
    assert key.startswith("isk-") and created["tenant"] == "team-k" and "digest" not in created
    assert _chat(b.url, key).status_code == 200  # the other replica reads the same store
    listed = httpx.get(f"{b.url}/v1/admin/keys", headers=admin, params={"tenant": "team-k"}).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]] and key not in str(listed)
    assert httpx.get(f"{b.url}/v1/admin/keys", headers={"Authorization": f"Bearer {key}"}).status_code == 403
    revoked_at = time.monotonic()
    assert httpx.delete(f"{a.url}/v1/admin/keys/{created['id']}", headers=admin).json()["revoked"] is True
    took = wait_for(lambda: _chat(b.url, key).status_code == 401, 3, "revocation on the other replica")
    assert time.monotonic() - revoked_at <= 1.5 and took <= 1.5  # the lookup cache is 1 s
    for replica in (a, b):
        assert key not in replica.log_text()


def test_key_scopes_refuse_other_endpoints_and_models(replicas: tuple[Gateway, Gateway]) -> None:
    a, _ = replicas
    admin = {"Authorization": f"Bearer {ADMIN}"}
    body = {"tenant": "team-k", "endpoints": ["chat"], "models": ["auto"]}
    key = httpx.post(f"{a.url}/v1/admin/keys", headers=admin, json=body).json()["key"]
    pinned = _chat(a.url, key)  # pins smollm2-135m, outside the key's models
    assert pinned.status_code == 403 and pinned.json()["error"]["param"] == "model"
    embed = httpx.post(f"{a.url}/v1/embeddings", json={"model": "x", "input": "hi"},
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert embed.status_code == 403 and embed.json()["error"]["type"] == "permission_error"
    bad = httpx.post(
        f"{a.url}/v1/admin/keys", headers=admin, json={"tenant": "team-k", "endpoints": ["root"]}
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"].startswith("endpoints")


def _spend_key(tenant: str) -> str:
    return f"inferstack:q:s:tenant:{tenant}:{time.strftime('%Y%m%d', time.gmtime())}"


def test_redis_killed_mid_run_fails_open_or_closed_then_recovers(
    replicas: tuple[Gateway, Gateway], own_redis: RedisServer
) -> None:
    open_replica, closed_replica = replicas
    assert _chat(open_replica.url, KEYS["free"]).status_code == 200
    own_redis.stop()
    assert _chat(open_replica.url, KEYS["free"]).status_code == 200  # served, counted locally
    refused = _chat(closed_replica.url, KEYS["free"])
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "quota_store_unavailable"
    assert refused.headers["Retry-After"] == "1"
    metrics = httpx.get(f"{open_replica.url}/metrics").text
    assert 'inferstack_quota_store_errors_total{mode="open",store="redis"}' in metrics
    own_redis.start()
    wait_for(
        lambda: _chat(closed_replica.url, KEYS["free"]).status_code == 200, 10, "closed replica recovery"
    )
    assert "quotas: redis store failed" in Path(closed_replica.log_path).read_text()
