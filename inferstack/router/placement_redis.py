"""Placement tables in Redis, shared by every gateway replica: a session's replica is a string
key, a prompt block is a hash of replica -> last served (ms, Redis' own clock), and a replica
that lost its cache has a "forgotten at" time. Lookup, record and forget are one Lua script
each: a lookup of any number of blocks is one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from inferstack.router.placement_store import Lookup, PlacementStore

_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS[1]: the session key (ARGV[2] == '1' when there is one), KEYS[2..n+1]: each replica's
# "forgotten at" key, KEYS[n+2..]: the blocks in order. ARGV[1]: ttl ms, ARGV[3..]: the n
# replicas to score. Returns {affinity or '', leading blocks held, per replica}. Chained block
# hashes make "holds block i" monotone in i: a binary search per replica.
_LOOKUP = (
    _CLOCK
    + """
local cutoff = now - tonumber(ARGV[1])
local affinity = ''
if ARGV[2] == '1' then affinity = redis.call('GET', KEYS[1]) or '' end
local n = #ARGV - 2
local first = n + 2
local out = {affinity}
for r = 1, n do
  local since = math.max(cutoff, tonumber(redis.call('GET', KEYS[1 + r]) or '0'))
  local low, high = 0, #KEYS - first + 1
  while low < high do
    local middle = math.floor((low + high) / 2)
    local at = redis.call('HGET', KEYS[first + middle], ARGV[2 + r])
    if at and tonumber(at) > since then low = middle + 1 else high = middle end
  end
  table.insert(out, low)
end
return out
"""
)

# KEYS as for the lookup; ARGV[1]: ttl ms, ARGV[2]: '1' with a session, ARGV[3]: the replica.
_RECORD = (
    _CLOCK
    + """
local ttl = tonumber(ARGV[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl) end
for i = #KEYS, 2, -1 do
  redis.call('HSET', KEYS[i], ARGV[3], now)
  redis.call('PEXPIRE', KEYS[i], ttl)
end
return 1
"""
)

# KEYS[1]: the replica's "forgotten at" key; ARGV[1]: ttl ms (older blocks have expired by then).
_FORGET = (
    _CLOCK
    + """
redis.call('SET', KEYS[1], now, 'PX', tonumber(ARGV[1]))
return 1
"""
)


class RedisPlacementStore(PlacementStore):
    def __init__(self, client: aioredis.Redis, ttl_s: float, prefix: str = "inferstack:place:") -> None:
        self.client = client
        self.ttl_ms = str(int(ttl_s * 1000))
        self.prefix = prefix
        self._lookup = client.register_script(_LOOKUP)
        self._record = client.register_script(_RECORD)
        self._forget = client.register_script(_FORGET)

    @classmethod
    def from_url(cls, url: str, ttl_s: float, timeout_s: float) -> RedisPlacementStore:
        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=False
        )
        return cls(client, ttl_s)

    def _keys(self, deployment: str, session: str | None, blocks: Sequence[bytes]) -> list[Any]:
        base = f"{self.prefix}{deployment}:"
        return [
            f"{base}s:{session or ''}".encode(),
            *(base.encode() + b"b:" + b.hex().encode() for b in blocks),
        ]

    def _forgotten(self, deployment: str, replica: str) -> str:
        return f"{self.prefix}{deployment}:f:{replica}"

    async def lookup(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replicas: Sequence[str]
    ) -> Lookup:
        session_key, *block_keys = self._keys(deployment, session, blocks)
        raw = await self._lookup(
            keys=[session_key, *(self._forgotten(deployment, r) for r in replicas), *block_keys],
            args=[self.ttl_ms, "1" if session else "0", *replicas],
        )
        affinity = raw[0].decode() if raw[0] else None
        matched = {replica: int(n) for replica, n in zip(replicas, raw[1:], strict=True) if int(n)}
        return Lookup(affinity, matched)

    async def record(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replica: str
    ) -> None:
        await self._record(
            keys=self._keys(deployment, session, blocks), args=[self.ttl_ms, "1" if session else "0", replica]
        )

    async def forget(self, deployment: str, replica: str) -> None:
        await self._forget(keys=[self._forgotten(deployment, replica)], args=[self.ttl_ms])

    async def aclose(self) -> None:
        await self.client.aclose()
