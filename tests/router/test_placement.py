from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from inferstack.config.router import PlacementConfig
from inferstack.router.backend import BackendState
from inferstack.router.deployments import Deployment
from inferstack.router.metrics import RouterMetrics
from inferstack.router.placement import Placer, prompt_blocks
from inferstack.router.placement_redis import RedisPlacementStore
from inferstack.router.placement_store import LocalPlacementStore, PlacementStore
from loadtest.redis_server import RedisServer
from tests.router.stubs import deployment

SYSTEM = "You are a helpful assistant for the travel desk. " * 6


def chat(*turns: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}]
    for index, text in enumerate(turns):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": text})
    return {"model": "m", "messages": messages}


def test_a_growing_conversation_keeps_its_earlier_block_hashes() -> None:
    first = prompt_blocks(chat("Where is my booking " * 20), 64, 256)
    second = prompt_blocks(chat("Where is my booking " * 20, "It is confirmed. " * 10, "Thanks"), 64, 256)
    assert len(second) > len(first) > 4
    assert second[: len(first) - 1] == first[: len(first) - 1]  # the last block ends at the old "]"
    other = prompt_blocks(chat("A different question entirely " * 20), 64, 256)
    shared = next(i for i, (a, b) in enumerate(zip(first, other, strict=False)) if a != b)
    assert 0 < shared < len(first)  # the system prompt's blocks match, the user's do not


def test_blocks_chain_every_block_before_them_and_stop_at_the_cap() -> None:
    body = chat("x" * 2000)
    assert len(prompt_blocks(body, 64, 8)) == 8
    swapped = chat("x" * 2000)
    swapped["messages"][0]["content"] = SYSTEM.replace("travel", "hotels")  # early change
    assert not set(prompt_blocks(body, 64, 256)[3:]) & set(prompt_blocks(swapped, 64, 256))


def test_sessions_are_kept_by_a_keyed_digest() -> None:
    one, same, other = placer("session-affinity"), placer("session-affinity"), placer("session-affinity")
    one.secret = same.secret = b"shared-by-every-gateway"
    assert one.session_digest("user-42") == same.session_digest("user-42") != one.session_digest("user-43")
    assert one.session_digest("user-42") != other.session_digest("user-42")  # another key
    assert "user-42" not in one.session_digest("user-42")


def test_local_store_longest_prefix_per_replica_and_expiry() -> None:
    now = [0.0]
    store = LocalPlacementStore(ttl_s=10, max_entries=100, clock=lambda: now[0])
    blocks = [bytes([i]) * 8 for i in range(6)]
    store.record_now("m", None, blocks[:4], "r1")
    store.record_now("m", None, blocks[:2], "r2")
    found = store.lookup_now("m", None, blocks, ["r1", "r2", "r3"])
    assert found.matched == {"r1": 4, "r2": 2}
    assert store.lookup_now("other-model", None, blocks, ["r1"]).matched == {}
    now[0] = 11
    assert store.lookup_now("m", None, blocks, ["r1", "r2"]).matched == {}


def test_local_store_forgets_the_least_recently_used_blocks() -> None:
    store = LocalPlacementStore(ttl_s=100, max_entries=3)
    chain = [b"a" * 8, b"b" * 8, b"c" * 8, b"d" * 8]
    store.record_now("m", None, chain, "r1")
    # A chain is forgotten from its deepest block: what is left is still a held prefix.
    assert store.lookup_now("m", None, chain, ["r1"]).matched == {"r1": 3}
    assert store.lookup_now("m", None, chain[3:], ["r1"]).matched == {}


def placer(policy: str, store: PlacementStore | None = None, **config: Any) -> Placer:
    cfg = PlacementConfig(policy=policy, block_chars=64, **config)  # type: ignore[arg-type]
    return Placer(
        cfg, store or LocalPlacementStore(cfg.ttl_s, cfg.max_entries), RouterMetrics(CollectorRegistry())
    )


async def serve(p: Placer, d: Deployment, body: dict[str, Any], session: str | None = None) -> str:
    """Place one call and tell the placer its first replica answered; that replica's id."""
    placement = await p.place(d, lambda: body, session)
    p.served(placement, placement.order[0])
    await asyncio.sleep(0)
    return placement.order[0].id


async def test_prefix_aware_keeps_each_conversation_on_the_replica_that_served_it() -> None:
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    history = {s: [f"Session {s} asks about booking {s * 7919} and its refund rules " * 3] for s in range(6)}
    # Six conversations open at once: nothing is known yet, so equal loads take turns.
    first = {s: await p.place(d, lambda s=s: chat(*history[s]), None) for s in range(6)}  # type: ignore[misc]
    for placement in first.values():
        p.served(placement, placement.order[0])
    homes = {s: placement.order[0].id for s, placement in first.items()}
    assert sorted(homes.values()) == ["m:8000"] * 3 + ["m:8001"] * 3
    for turn in range(3):
        for s in range(6):
            history[s] += [f"answer {turn} " * 8, f"follow-up {turn} " * 4]
            placement = await p.place(d, lambda s=s: chat(*history[s]), None)  # type: ignore[misc]
            assert placement.order[0].id == homes[s] and placement.reason == "prefix"
            assert placement.matched_blocks >= 3
            p.served(placement, placement.order[0])


async def test_prefix_aware_spills_from_a_saturated_replica() -> None:
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    body = chat("The same long question " * 10)
    home = await serve(p, d, body)
    busy = next(r for r in d.replicas if r.id == home)
    busy.stats.in_flight = busy.stats.max_concurrency
    placement = await p.place(d, lambda: body, None)
    assert placement.order[0] is not busy and placement.reason == "prefix_saturated"
    assert placement.order[1] is busy  # still tried if the free one fails


async def test_a_full_kv_cache_saturates_a_replica() -> None:
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    body = chat("The same long question " * 10)
    home_id = await serve(p, d, body)
    home = next(r for r in d.replicas if r.id == home_id)
    home.stats.kv_cache_usage = 0.97
    placement = await p.place(d, lambda: body, None)
    assert placement.order[0] is not home and placement.reason == "prefix_saturated"
    assert placement.describe("prefix-aware")["kv_cache_usage"] is None  # the other's: not scraped


async def test_session_affinity_sticks_until_the_replica_is_unhealthy() -> None:
    d, p = deployment("m", replicas=3), placer("session-affinity")
    home = await serve(p, d, chat("hi"), "s-1")
    for text in ("more", "and more", "a new topic altogether"):
        placement = await p.place(d, lambda t=text: chat(t), "s-1")  # type: ignore[misc]
        assert placement.order[0].id == home and placement.reason == "affinity"
    sticky = next(r for r in d.replicas if r.id == home)
    sticky.backend.state = BackendState.UNHEALTHY
    placement = await p.place(d, lambda: chat("again"), "s-1")
    assert placement.order[0] is not sticky and placement.reason == "affinity_unavailable"
    p.served(placement, placement.order[0])
    sticky.backend.state = BackendState.HEALTHY  # it came back: the session stays where it moved
    again = await p.place(d, lambda: chat("again"), "s-1")
    assert again.order[0] is placement.order[0] and again.reason == "affinity"


async def test_new_sessions_spread_alike_on_every_gateway() -> None:
    d = deployment("m", replicas=2)
    gateways = [placer("session-affinity"), placer("session-affinity")]  # no shared tables
    homes = [
        {s: (await p.place(d, lambda: chat("hi"), f"user-{s}")).order[0].id for s in range(40)}
        for p in gateways
    ]
    assert homes[0] == homes[1]  # the same pick without talking to each other
    assert 10 <= sum(home == "m:8000" for home in homes[0].values()) <= 30
    d.replicas[0].stats.in_flight = 3  # but load comes first
    assert (await gateways[0].place(d, lambda: chat("hi"), "user-new")).order[0] is d.replicas[1]


async def test_a_replica_that_went_down_is_forgotten() -> None:
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    body = chat("A conversation worth remembering " * 10)
    home_id = await serve(p, d, body)
    home = next(r for r in d.replicas if r.id == home_id)
    assert (await p.place(d, lambda: body, None)).reason == "prefix"
    home.backend.lapses += 1  # it restarted: its KV cache is empty
    placement = await p.place(d, lambda: body, None)
    assert placement.reason == "no_prefix" and placement.matched_blocks == 0


async def test_least_loaded_and_round_robin() -> None:
    d = deployment("m", replicas=3)
    d.replicas[0].stats.in_flight, d.replicas[1].stats.in_flight = 4, 1
    placement = await placer("least-loaded").place(d, lambda: chat("x"), None)
    assert [r.id for r in placement.order] == ["m:8002", "m:8001", "m:8000"]
    rr = placer("round-robin")
    firsts = []
    for _ in range(6):
        firsts.append((await rr.place(d, lambda: chat("x"), None)).order[0].id)
        rr.by_load("m", d.replicas)  # other orderings (ties elsewhere) do not use up a turn
    assert firsts == ["m:8000", "m:8001", "m:8002"] * 2


async def test_one_replica_skips_placement_and_one_healthy_is_still_remembered() -> None:
    single = deployment("m")
    placement = await placer("prefix-aware").place(single, lambda: pytest.fail("no hashing"), "s")
    assert placement.order == single.replicas and placement.reason == "only"
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    d.replicas[1].backend.state = BackendState.RESTARTING
    body = chat("Something to remember " * 10)
    placement = await p.place(d, lambda: body, None)
    assert placement.order == [d.replicas[0]] and placement.reason == "one_available"
    p.served(placement, d.replicas[0])
    d.replicas[1].backend.state = BackendState.HEALTHY
    again = await p.place(d, lambda: body, None)
    assert again.order[0] is d.replicas[0] and again.reason == "prefix"


async def test_a_much_busier_replica_loses_a_short_prefix_but_keeps_a_long_one() -> None:
    d, p = deployment("m", replicas=2), placer("prefix-aware")
    home_body = chat("Shared opening line " * 4)
    home = await serve(p, d, home_body)
    busy = next(r for r in d.replicas if r.id == home)
    busy.stats.in_flight = 2  # busier, within the balance (0.25 x 8)
    short = chat("Shared opening line " * 4, "then something else entirely " * 60)
    placement = await p.place(d, lambda: short, None)
    assert placement.order[0] is not busy and placement.reason == "prefix_load"
    long_history = await p.place(d, lambda: home_body, None)
    assert long_history.order[0] is busy and long_history.reason == "prefix"
    busy.stats.in_flight = 3  # beyond the balance: even its whole prefix does not keep it
    assert (await p.place(d, lambda: home_body, None)).reason == "prefix_imbalance"


class _DeadStore(PlacementStore):
    shared = True

    def __init__(self) -> None:
        self.calls = 0

    async def lookup(self, deployment: str, session: str | None, blocks: Any, replicas: Any) -> Any:
        self.calls += 1
        raise TimeoutError

    async def record(self, deployment: str, session: str | None, blocks: Any, replica: str) -> None:
        self.calls += 1
        raise TimeoutError

    async def forget(self, deployment: str, replica: str) -> None:
        self.calls += 1
        raise TimeoutError


async def test_a_dead_shared_store_places_on_local_knowledge_and_is_left_alone_a_second() -> None:
    dead = _DeadStore()
    d, p = deployment("m", replicas=2), placer("prefix-aware", dead)
    body = chat("A question long enough for several blocks " * 4)
    home = await serve(p, d, body)
    assert dead.calls == 1  # the lookup failed; the record was skipped for the next second
    placement = await p.place(d, lambda: body, None)
    assert placement.order[0].id == home and placement.reason == "prefix" and dead.calls == 1
    assert p.metrics.placement_store_errors._value.get() == 1  # type: ignore[attr-defined]


@pytest.fixture
async def redis_pair(redis_server: RedisServer) -> AsyncIterator[tuple[Placer, Placer]]:
    """Two gateways' placers on one Redis (each its own client and local tables)."""
    clients = [aioredis.Redis.from_url(redis_server.url) for _ in range(2)]
    prefix = f"test-{os.urandom(4).hex()}:"
    yield tuple(  # type: ignore[misc]
        placer("prefix-aware", RedisPlacementStore(c, ttl_s=60, prefix=prefix)) for c in clients
    )
    for client in clients:
        await client.aclose()


async def test_two_gateways_on_one_redis_place_a_conversation_on_one_replica(
    redis_pair: tuple[Placer, Placer],
) -> None:
    first, second = redis_pair
    d1, d2 = deployment("m", replicas=2), deployment("m", replicas=2)  # each gateway's own view
    history = ["Plan a week in Lisbon with a tight budget " * 3]
    home = await serve(first, d1, chat(*history))
    await asyncio.gather(*first._pending)
    for turn in range(4):
        history += [f"Day {turn}: museums and food " * 5, f"And day {turn + 1}? " * 3]
        gateway, d = (second, d2) if turn % 2 == 0 else (first, d1)
        body = chat(*history)
        placement = await gateway.place(d, lambda: body, None)  # noqa: B023 - called at once
        assert placement.order[0].id == home and placement.reason == "prefix", turn
        gateway.served(placement, placement.order[0])
        await asyncio.gather(*gateway._pending)


async def test_redis_and_local_stores_agree_on_depths_expiry_and_forgetting(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    now = [0.0]
    stores: list[PlacementStore] = [
        RedisPlacementStore(client, ttl_s=0.5, prefix=f"test-{os.urandom(4).hex()}:"),
        LocalPlacementStore(ttl_s=0.5, max_entries=1000, clock=lambda: now[0]),
    ]
    chain = [bytes([i]) * 8 for i in range(9)]
    for store in stores:
        await store.record("m", None, chain[:7], "r1")
        await store.record("m", None, chain[:3], "r2")
        await store.record("m", None, chain[:9], "r3")
        assert (await store.lookup("m", None, chain, ["r1", "r2", "r3", "r4"])).matched == {
            "r1": 7,
            "r2": 3,
            "r3": 9,
        }
        await store.forget("m", "r3")
        assert (await store.lookup("m", None, chain, ["r1", "r3"])).matched == {"r1": 7}
        await asyncio.sleep(0.01)
        now[0] += 0.01
        await store.record("m", None, chain[:2], "r3")  # served again after its restart
        assert (await store.lookup("m", None, chain, ["r3"])).matched == {"r3": 2}
    await asyncio.sleep(0.6)
    now[0] += 0.6
    for store in stores:
        assert (await store.lookup("m", None, chain, ["r1", "r2", "r3"])).matched == {}
    await client.aclose()


async def test_redis_session_affinity_is_shared_and_expires(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    store = RedisPlacementStore(client, ttl_s=0.3, prefix=f"test-{os.urandom(4).hex()}:")
    await store.record("m", "digest-1", [b"a" * 8, b"b" * 8], "10.0.0.7:8000")
    found = await store.lookup(
        "m", "digest-1", [b"a" * 8, b"b" * 8, b"c" * 8], ["10.0.0.7:8000", "10.0.0.8:8000"]
    )
    assert found.affinity == "10.0.0.7:8000" and found.matched == {"10.0.0.7:8000": 2}
    await asyncio.sleep(0.4)
    gone = await store.lookup("m", "digest-1", [b"a" * 8], ["10.0.0.7:8000"])
    assert gone.affinity is None and gone.matched == {}
    await client.aclose()
