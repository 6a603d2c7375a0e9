"""The answer cache's stores (the in-process LRU; Redis, a real redis-server) and its key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import redis.asyncio as aioredis

from inferstack.answers.service import AnswerCache
from inferstack.answers.store import LocalAnswerStore, RedisAnswerStore
from loadtest.redis_server import RedisServer


def test_the_key_ignores_stream_and_user_and_field_order_but_not_the_tenant() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    key = AnswerCache.key("acme", body)
    assert (
        AnswerCache.key("acme", {"stream": True, "user": "u1", **dict(reversed(list(body.items())))}) == key
    )
    assert AnswerCache.key("other", body) != key
    assert AnswerCache.key("acme", {**body, "max_tokens": 5}) != key


async def test_local_store_expires_and_drops_the_least_recently_used() -> None:
    store = LocalAnswerStore(max_entries=2)
    await store.put("a", b"1", 60)
    await store.put("b", b"2", 60)
    assert await store.get("a") == b"1"  # a is now the most recently used
    await store.put("c", b"3", 60)
    assert (await store.get("b"), await store.get("a"), await store.get("c")) == (None, b"1", b"3")
    await store.put("d", b"4", 0.05)
    await asyncio.sleep(0.1)
    assert await store.get("d") is None


async def test_redis_store_round_trip_expiry_and_a_dead_redis_is_a_miss(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    store = RedisAnswerStore(client, prefix=f"t-{os.urandom(4).hex()}:")
    await store.put("k", b"answer", 0.2)
    assert await store.get("k") == b"answer"
    await asyncio.sleep(0.3)
    assert await store.get("k") is None
    await client.aclose()
    gone = RedisServer(tmp_path).start()
    dead = RedisAnswerStore.from_url(gone.url, 0.25)
    gone.stop()
    await dead.put("k", b"x", 10)  # logged, not raised
    assert await dead.get("k") is None
    await dead.aclose()
