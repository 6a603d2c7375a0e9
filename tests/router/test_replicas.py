from __future__ import annotations

import asyncio
from typing import Any

from inferstack.config.router import BreakerConfig
from inferstack.router.backend import BackendState
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.replicas import Replica, ReplicaResolver, replica_id, url_for_address
from inferstack.router.stats import LiveStats
from tests.router.stubs import StubBackend, deployment


def test_replica_ids_are_host_and_port() -> None:
    assert replica_id("http://10.0.0.5:8000/v1") == "10.0.0.5:8000"
    assert replica_id("https://api.example.com/openai/v1/") == "api.example.com/openai"
    assert replica_id("http://user:secret@10.0.0.5:8000/v1") == "10.0.0.5:8000"  # never credentials
    assert url_for_address("http://vllm-headless:8000/v1", "10.1.2.3") == "http://10.1.2.3:8000/v1"
    assert url_for_address("http://vllm-headless:8000/v1", "fd00::5") == "http://[fd00::5]:8000/v1"


def test_a_deployment_is_available_while_one_replica_is() -> None:
    d = deployment("m", replicas=2)
    d.replicas[0].backend.state = BackendState.UNHEALTHY
    assert d.unavailable_why() is None and d.healthy and d.available_replicas() == [d.replicas[1]]
    d.replicas[1].breaker.record_failure()  # consecutive_failures=1: open
    assert d.unavailable_why() == "no replica available (2 down or circuit open)"
    d.replicas[1].stats.in_flight = 2
    assert d.least_loaded() is d.replicas[0]  # nothing available: the least loaded of all


def test_load_and_ttft_are_the_best_replicas() -> None:
    d = deployment("m", replicas=2)
    d.replicas[0].stats.in_flight = 20
    d.replicas[0].stats.observe_duration(5000)
    assert d.load == 0 and d.predicted_ttft_ms() == d.replicas[1].stats.predicted_ttft_ms()


def _replica(url: str) -> Replica:
    spec = deployment("m").spec
    return Replica(
        replica_id(url), StubBackend("m"), CircuitBreaker(BreakerConfig()),  # type: ignore[arg-type]
        LiveStats(spec.expected_ttft_ms, spec.max_concurrency),
    )  # fmt: skip


class _Closable(StubBackend):
    closed = False

    def mark(self, state: str) -> None:
        self.state = BackendState(state)

    async def aclose(self) -> None:
        self.closed = True


async def test_resolver_adds_and_drains_replicas_and_rides_out_a_dns_failure() -> None:
    answers: list[Any] = [["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "10.0.0.3"], OSError("timeout"), []]

    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("vllm-headless", 8000)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    replicas: list[Replica] = []
    left: list[str] = []

    def make(url: str) -> Replica:
        replica = _replica(url)
        replica.backend = _Closable("m")  # type: ignore[assignment]
        replica.backend.state = BackendState.STARTING
        return replica

    resolver = ReplicaResolver(
        "m", "http://vllm-headless:8000/v1", replicas, make, 10, resolve,
        on_leave=lambda r: left.append(r.id), drain_s=30,
    )  # fmt: skip
    await resolver.refresh()
    assert [r.id for r in replicas] == ["10.0.0.1:8000", "10.0.0.2:8000"]
    first, kept = replicas
    first.stats.in_flight = 1  # a call is still running on it when it leaves
    await resolver.refresh()
    assert [r.id for r in replicas] == ["10.0.0.2:8000", "10.0.0.3:8000"] and replicas[0] is kept
    assert first.backend.state is BackendState.STOPPED and left == ["10.0.0.1:8000"]
    await asyncio.sleep(0.05)
    assert not first.backend.closed  # type: ignore[attr-defined]  # drained, not cut
    first.stats.in_flight = 0
    await asyncio.sleep(1.1)
    assert first.backend.closed  # type: ignore[attr-defined]
    await resolver.refresh()  # DNS failed: keep what we had
    assert [r.id for r in replicas] == ["10.0.0.2:8000", "10.0.0.3:8000"]
    await resolver.refresh()  # the name is gone (scaled to zero): no replicas
    assert replicas == [] and len(left) == 3
    await resolver.stop()
