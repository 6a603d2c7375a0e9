"""Where cached answers live. Values are opaque bytes (the serialised answer); keys are hashes
that already include the tenant. A Redis that does not answer is a miss, never an error."""

from __future__ import annotations

import abc
import logging
import time
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class AnswerStore(abc.ABC):
    name: str

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def aclose(self) -> None:
        return None


class LocalAnswerStore(AnswerStore):
    """Least recently used entries go first once `max_entries` are held; expired ones on read."""

    name = "local"

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisAnswerStore(AnswerStore):
    name = "redis"

    def __init__(self, client: aioredis.Redis, prefix: str = "inferstack:a:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisAnswerStore:
        return cls(aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s))

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self.client.get(self.prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("answer cache: redis get failed (%s); a miss", type(exc).__name__)
            return None
        return value if isinstance(value, bytes) else None

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        try:
            await self.client.set(self.prefix + key, value, px=int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            log.warning("answer cache: redis set failed (%s); not stored", type(exc).__name__)

    async def aclose(self) -> None:
        await self.client.aclose()
