"""Placement over two real vLLM replicas of SmolLM2: one gateway supervising both (prefix-aware),
one gateway sending to them round-robin, two gateways sharing a Redis (session affinity).

The last test SIGKILLs a replica, so it runs last in this module."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
import redis
from openai import OpenAI

from loadtest.bench_placement import LIGHT, consecutive_ports, prefix_counts
from loadtest.redis_server import RedisServer
from tests.e2e.conftest import Gateway, start_gateway, wait_for

pytestmark = pytest.mark.e2e

MODEL = "smollm2-135m"
NO_STORE = {"Cache-Control": "no-store"}  # every turn reaches vLLM, none is an answer-cache hit


@pytest.fixture(scope="module")
def supervised(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway starting two local vLLM processes of one model (the default: prefix-aware)."""
    port = consecutive_ports()
    gateway = start_gateway(
        tmp_path_factory.mktemp("replicas"),
        port,
        local_model={"serve": {"kind": "local", "port": port, "replicas": 2, "enforce_eager": True}},
        extra_config=LIGHT,
    )
    yield gateway
    gateway.terminate()


def _urls(gateway: Gateway) -> list[str]:
    return [gateway.vllm_url, f"http://127.0.0.1:{gateway.vllm_port + 1}"]


def _remote(supervised: Gateway) -> dict[str, Any]:
    first, second = _urls(supervised)
    return {"serve": {"kind": "remote", "base_url": f"{first}/v1", "replicas": [f"{second}/v1"]}}


@pytest.fixture(scope="module")
def round_robin(tmp_path_factory: pytest.TempPathFactory, supervised: Gateway) -> Iterator[Gateway]:
    gateway = start_gateway(
        tmp_path_factory.mktemp("round-robin"),
        local_model=_remote(supervised),
        extra_config={**LIGHT, "router": {"placement": {"policy": "round-robin"}}},
    )
    yield gateway
    gateway.terminate()


@pytest.fixture(scope="module")
def shared_pair(
    tmp_path_factory: pytest.TempPathFactory, supervised: Gateway, redis_server: RedisServer
) -> Iterator[tuple[Gateway, Gateway]]:
    placement = {"policy": "session-affinity", "store": "redis", "redis_url": redis_server.url,
                 "store_timeout_ms": 2000}  # fmt: skip  # vLLM takes both cores: loops lag
    started = [
        start_gateway(
            tmp_path_factory.mktemp(f"shared-{i}"),
            local_model=_remote(supervised),
            extra_config={**LIGHT, "router": {"placement": placement}},
        )
        for i in range(2)
    ]
    yield started[0], started[1]
    for gateway in started:
        gateway.terminate()


def sdk(gateway: Gateway) -> OpenAI:
    return OpenAI(base_url=f"{gateway.url}/v1", api_key="unused-on-loopback", max_retries=0, timeout=180)


def ask(gateway: Gateway, messages: list[dict[str, str]], **extra: Any) -> tuple[str, dict[str, Any]]:
    """One turn: the answer's text and its `inferstack.route` record."""
    with sdk(gateway) as client:
        response = client.chat.completions.create(
            model=MODEL, messages=messages, max_tokens=24, temperature=0, extra_headers=NO_STORE, **extra
        )
    return response.choices[0].message.content or "", (response.model_extra or {})["inferstack"]["route"]


def conversations(
    gateway: Gateway, urls: list[str], sessions: int, turns: int
) -> tuple[float, list[set[str]]]:
    """`sessions` conversations sharing one system prompt, their turns interleaved; each turn
    carries the whole history. vLLM's prefix-cache hit rate over the run, and the replicas
    each conversation was served by."""
    nonce = uuid.uuid4().hex  # this run's prompts share no prefix with another run's
    system = f"[{nonce}] You are the assistant of a travel desk. " + "Answer briefly and politely. " * 20
    histories = [[{"role": "system", "content": system}] for _ in range(sessions)]
    served: list[set[str]] = [set() for _ in range(sessions)]
    before = prefix_counts(urls)
    for turn in range(turns):
        for s, history in enumerate(histories):
            question = (
                f"Traveller {s}, trip {turn}: " + f"what should I pack for city number {s * 31 + turn}? " * 16
            )
            history.append({"role": "user", "content": question})
            answer, route = ask(gateway, history)
            history.append({"role": "assistant", "content": answer})
            served[s].add(route["placement"]["served_by"])
    after = prefix_counts(urls)
    return (after[0] - before[0]) / (after[1] - before[1]), served


def test_prefix_aware_beats_round_robin_on_vllms_own_prefix_cache_counter(
    supervised: Gateway, round_robin: Gateway
) -> None:
    # Three conversations over two replicas: round-robin moves each one at every turn.
    urls = _urls(supervised)
    aware_rate, aware_served = conversations(supervised, urls, sessions=3, turns=4)
    robin_rate, robin_served = conversations(round_robin, urls, sessions=3, turns=4)
    assert all(len(replicas) == 1 for replicas in aware_served), aware_served
    assert all(len(replicas) == 2 for replicas in robin_served), robin_served
    assert aware_rate >= 1.3 * robin_rate, (aware_rate, robin_rate)


def test_two_gateways_on_one_redis_keep_a_session_on_one_replica(
    shared_pair: tuple[Gateway, Gateway], redis_server: RedisServer
) -> None:
    for user in ("traveller-a", "traveller-b", "traveller-c"):
        history = [{"role": "user", "content": f"Hello, I am {user}."}]
        served = set()
        for turn in range(4):
            answer, route = ask(shared_pair[turn % 2], history, user=user)
            placement = route["placement"]
            assert placement["policy"] == "session-affinity"
            # From the second turn on the session is found in Redis, whichever gateway asks.
            assert placement["reason"] == ("new_session" if turn == 0 else "affinity"), (turn, placement)
            served.add(placement["served_by"])
            history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And then?"}]
        assert len(served) == 1, (user, served)
    keys = [k.decode() for k in redis.Redis.from_url(redis_server.url).keys("inferstack:place:*")]
    assert keys and not any("traveller" in k for k in keys)  # sessions are kept by digest


def _vllm_on(port: int) -> psutil.Process:
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "vllm.entrypoints.openai.api_server" in cmdline and f"--port {port}" in cmdline:
            return process
    raise AssertionError(f"no vLLM on port {port}")


def test_killing_the_replica_moves_the_conversation_and_its_stream_continues(supervised: Gateway) -> None:
    history = [{"role": "system", "content": "You are a patient tutor. " * 30},
               {"role": "user", "content": "Explain photosynthesis step by step."}]  # fmt: skip
    homes = set()
    for _ in range(3):
        answer, route = ask(supervised, history)
        homes.add(route["placement"]["served_by"])
        history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "Go on."}]
    assert len(homes) == 1, homes
    home = homes.pop()
    victim = _vllm_on(int(home.rsplit(":", 1)[1]))

    with sdk(supervised) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=history, max_tokens=160, temperature=0, stream=True,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True}, extra_headers=NO_STORE,
        )  # fmt: skip
        chunks, trailer, usage, killed = 0, None, None, False
        for chunk in stream:
            trailer = (chunk.model_extra or {}).get("inferstack", trailer)
            usage = chunk.usage or usage
            chunks += len(chunk.choices)
            if not killed and chunks >= 6:
                os.killpg(victim.pid, signal.SIGKILL)  # the replica and its engine process
                killed = True
    assert killed and trailer is not None and usage is not None
    failovers = trailer["route"]["failovers"]
    assert len(failovers) == 1 and failovers[0]["from"] == failovers[0]["to"] == MODEL, failovers
    assert failovers[0]["from_replica"] == home and failovers[0]["to_replica"] != home
    assert usage.completion_tokens == 160  # one complete answer over the two replicas
    moved = failovers[0]["to_replica"]

    ready = httpx.get(f"{supervised.url}/ready", timeout=10).json()
    assert ready["ready"] and ready["stages"][f"replicas:{MODEL}"] == "1/2 healthy"
    history.append({"role": "user", "content": "Now summarise all of that in plain words for a child. " * 12})
    answer, route = ask(supervised, history)
    assert route["placement"]["served_by"] == moved  # the conversation lives there now
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "Thanks!"}]
    # The supervisor brings the killed replica back; the conversation stays where it moved.
    wait_for(
        lambda: (
            httpx.get(f"{supervised.url}/ready", timeout=10).json()["stages"][f"replicas:{MODEL}"]
            == "2/2 healthy"
        ),
        240,
        "the killed replica restarted",
    )
    _, route = ask(supervised, history)
    assert route["placement"]["served_by"] == moved and route["placement"]["reason"] == "prefix"

    replicas = {url.removeprefix("http://") for url in _urls(supervised)}
    metrics = httpx.get(f"{supervised.url}/metrics", timeout=10).text.splitlines()
    placed = {line.split('replica="')[1].split('"')[0] for line in metrics
              if line.startswith("inferstack_replica_placements_total{")}  # fmt: skip
    up = [line for line in metrics if line.startswith("inferstack_replica_up{")]
    assert placed == replicas and len(up) == 2 and all(line.endswith(" 1.0") for line in up)
