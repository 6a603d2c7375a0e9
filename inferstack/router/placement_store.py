"""The tables placement reads and writes: which replica a session was placed on, and which
replicas recently served which prompt blocks. `LocalPlacementStore` keeps them in this process;
`placement_redis.RedisPlacementStore` in Redis, shared by every gateway replica."""

from __future__ import annotations

import abc
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def longest_held(blocks: Sequence[bytes], held: Callable[[bytes], bool]) -> int:
    """How many leading blocks `held` says are there, by binary search: chained hashes make
    holding a prefix monotone (held(i) implies held(j) for every j < i)."""
    low, high = 0, len(blocks)
    while low < high:
        middle = (low + high) // 2
        if held(blocks[middle]):
            low = middle + 1
        else:
            high = middle
    return low


@dataclass
class Lookup:
    affinity: str | None = None  # the replica the session was last placed on
    matched: dict[str, int] = field(default_factory=dict)  # replica id -> leading blocks it holds


class PlacementStore(abc.ABC):
    """Where the session and prefix tables live. Ids are deployment-scoped by the caller."""

    @abc.abstractmethod
    async def lookup(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replicas: Sequence[str]
    ) -> Lookup:
        """The session's replica and, for each of `replicas`, how many leading blocks it holds."""

    @abc.abstractmethod
    async def record(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replica: str
    ) -> None: ...

    @abc.abstractmethod
    async def forget(self, deployment: str, replica: str) -> None:
        """`replica` lost its cache (it went down): what it served before counts no more."""

    async def aclose(self) -> None:
        return None


class LocalPlacementStore(PlacementStore):
    """LRU tables in this process: block -> {replica: last served}, session -> replica;
    `max_entries` bounds each table."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._blocks: OrderedDict[tuple[str, bytes], dict[str, float]] = OrderedDict()
        self._sessions: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()
        self._forgotten: dict[tuple[str, str], float] = {}  # (deployment, replica) -> when

    async def lookup(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replicas: Sequence[str]
    ) -> Lookup:
        return self.lookup_now(deployment, session, blocks, replicas)

    def lookup_now(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replicas: Sequence[str]
    ) -> Lookup:
        cutoff = self._clock() - self.ttl_s
        found = Lookup()
        if session is not None:
            entry = self._sessions.get((deployment, session))
            if entry is not None and entry[1] >= cutoff:
                found.affinity = entry[0]
        table = self._blocks
        for replica in replicas:
            since = max(cutoff, self._forgotten.get((deployment, replica), cutoff))

            def held(block: bytes, replica: str = replica, since: float = since) -> bool:
                holders = table.get((deployment, block))
                return holders is not None and holders.get(replica, -math.inf) > since

            matched = longest_held(blocks, held)
            if matched:
                found.matched[replica] = matched
        return found

    async def record(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replica: str
    ) -> None:
        self.record_now(deployment, session, blocks, replica)

    def record_now(self, deployment: str, session: str | None, blocks: Sequence[bytes], replica: str) -> None:
        now = self._clock()
        if session is not None:
            self._sessions[(deployment, session)] = (replica, now)
            self._sessions.move_to_end((deployment, session))
            if len(self._sessions) > self.max_entries:
                self._sessions.popitem(last=False)
        # Deepest block first: the shallow ones end up most recent, so the LRU drops a chain from
        # its end and a held block always has all its predecessors (what lookups rely on).
        for block in reversed(blocks):
            key = (deployment, block)
            holders = self._blocks.get(key)
            if holders is None:
                self._blocks[key] = {replica: now}
            else:
                holders[replica] = now
                self._blocks.move_to_end(key)
        while len(self._blocks) > self.max_entries:
            self._blocks.popitem(last=False)

    async def forget(self, deployment: str, replica: str) -> None:
        self.forget_now(deployment, replica)

    def forget_now(self, deployment: str, replica: str) -> None:
        self._forgotten[(deployment, replica)] = self._clock()
