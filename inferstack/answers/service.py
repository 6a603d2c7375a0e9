"""Keys and values of the answer cache, and its counters. A key is the SHA-256 of the tenant
and the request normalised (fields sorted; `stream`, `stream_options` and `user` left out, so a
streamed and a whole answer share an entry)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from inferstack.answers.store import AnswerStore
from inferstack.config.answers import AnswerCacheConfig

_NOT_IN_KEY = {"stream", "stream_options", "user"}


class AnswerCache:
    def __init__(self, config: AnswerCacheConfig, store: AnswerStore, registry: CollectorRegistry) -> None:
        self.config = config
        self.store = store
        self.lookups = Counter(
            "inferstack_answer_cache", "Answer cache lookups: hit, miss, or skip (not cacheable)",
            ["result"], registry=registry,
        )  # fmt: skip

    @staticmethod
    def key(tenant: str, request: dict[str, Any]) -> str:
        normal = {k: v for k, v in request.items() if k not in _NOT_IN_KEY}
        digest = hashlib.sha256(tenant.encode() + b"\0" + orjson.dumps(normal, option=orjson.OPT_SORT_KEYS))
        return digest.hexdigest()

    async def get(self, key: str) -> dict[str, Any] | None:
        value = await self.store.get(key)
        return None if value is None else orjson.loads(value)

    async def put(self, key: str, entry: dict[str, Any]) -> None:
        await self.store.put(key, orjson.dumps(entry), self.config.ttl_s)

    async def aclose(self) -> None:
        await self.store.aclose()
