"""Replica placement: which replica of the chosen deployment serves a call.

`prefix-aware` hashes the prompt into a chain of fixed-size blocks (each hash covers every block
before it, as vLLM's own KV-block hashes do), looks up which replica recently served the longest
run of those blocks (its prefix cache likely still holds them) and sends the call there unless
that replica is saturated. `session-affinity` keeps a session (or the request's `user`) on one
replica while it is healthy and not saturated. The tables live in a `PlacementStore`: this
process's (one gateway) or Redis (every gateway replica sees the same placement)."""

from __future__ import annotations

import abc
import asyncio
import hashlib
import itertools
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from inferstack.config.router import PlacementConfig
from inferstack.router.deployments import Deployment
from inferstack.router.metrics import RouterMetrics
from inferstack.router.replicas import Replica

log = logging.getLogger(__name__)


def prompt_blocks(payload: dict[str, Any], block_chars: int, max_blocks: int) -> list[bytes]:
    """Chained hashes of the prompt's full blocks: the tools, then the messages (or the text
    prompt) as canonical JSON. Block i's hash covers blocks 0..i, so a conversation that grows
    keeps its earlier blocks' hashes, and holding block i means having held all before it."""
    body = payload.get("messages")
    if body is None:
        body = payload.get("prompt")
    text = memoryview(orjson.dumps([payload.get("model"), payload.get("tools"), body]))
    running = hashlib.blake2b(digest_size=8)
    hashes: list[bytes] = []
    for start in range(0, min(len(text) // block_chars, max_blocks) * block_chars, block_chars):
        running.update(text[start : start + block_chars])
        hashes.append(running.copy().digest())
    return hashes


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


def session_digest(key: str) -> str:
    """Sessions and users are kept by digest: the shared store never holds the raw id."""
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def _rendezvous(session: str, replica: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{session}|{replica}".encode(), digest_size=8).digest(), "big")


@dataclass
class Lookup:
    affinity: str | None = None  # the replica the session was last placed on
    matched: dict[str, int] = field(default_factory=dict)  # replica id -> leading blocks it holds


class PlacementStore(abc.ABC):
    """Where the session and prefix tables live. Ids are deployment-scoped by the caller."""

    shared = False

    @abc.abstractmethod
    async def lookup(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replicas: Sequence[str]
    ) -> Lookup:
        """The session's replica and, for each of `replicas`, how many leading blocks it holds."""

    @abc.abstractmethod
    async def record(
        self, deployment: str, session: str | None, blocks: Sequence[bytes], replica: str
    ) -> None: ...

    async def aclose(self) -> None:
        return None


class LocalPlacementStore(PlacementStore):
    """LRU tables in this process: block -> {replica: last served}, session -> replica."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._blocks: OrderedDict[tuple[str, bytes], dict[str, float]] = OrderedDict()
        self._sessions: OrderedDict[tuple[str, str], tuple[str, float]] = OrderedDict()

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

            def held(block: bytes, replica: str = replica) -> bool:
                holders = table.get((deployment, block))
                return holders is not None and holders.get(replica, -math.inf) >= cutoff

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


@dataclass
class Placement:
    """The replica order for one call and why, plus what to remember once a replica answers."""

    deployment: Deployment
    order: list[Replica]
    reason: str
    blocks: list[bytes] = field(default_factory=list, repr=False)
    matched_blocks: int = 0
    session: str | None = field(default=None, repr=False)
    served: Replica | None = None

    def describe(self, policy: str) -> dict[str, Any]:
        chosen = self.order[0] if self.order else None
        described: dict[str, Any] = {
            "policy": policy,
            "replica": chosen.id if chosen else None,
            "served_by": self.served.id if self.served else None,
            "reason": self.reason,
            "replicas": len(self.deployment.replicas),
            "load": chosen.stats.load if chosen else None,
            "kv_cache_usage": chosen.stats.kv_cache_usage if chosen else None,
        }
        if policy == "prefix-aware" and self.reason != "only":
            described["matched_blocks"] = self.matched_blocks
            described["blocks"] = len(self.blocks)
        return described


class Placer:
    """Orders a deployment's replicas for one call by the configured policy."""

    def __init__(self, config: PlacementConfig, store: PlacementStore, metrics: RouterMetrics) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self._fallback = (
            store
            if isinstance(store, LocalPlacementStore)
            else LocalPlacementStore(config.ttl_s, config.max_entries)
        )
        self._turns: dict[str, itertools.count[int]] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._store_down_until = 0.0  # after a miss the shared store is left alone for a second

    async def place(
        self, deployment: Deployment, payload: Callable[[], dict[str, Any]], session: str | None
    ) -> Placement:
        """`payload`: the body the chosen deployment would get (hashed for prefix-aware only)."""
        if len(deployment.replicas) <= 1:
            return Placement(deployment, list(deployment.replicas), "only")
        replicas = deployment.available_replicas()
        down = [r for r in deployment.replicas if r not in replicas]  # tried last, in case
        policy = self.config.policy
        if not replicas:
            return self._placed(Placement(deployment, self.by_load(deployment.name, down), "none_available"))
        if policy == "round-robin":
            turn = next(self._turns.setdefault(deployment.name, itertools.count()))
            start = turn % len(replicas)
            return self._placed(
                Placement(deployment, replicas[start:] + replicas[:start] + down, "round_robin")
            )
        by_load = self.by_load(deployment.name, replicas)
        if policy == "least-loaded":
            return self._placed(Placement(deployment, by_load + down, "least_loaded"))
        digest = session_digest(session) if session is not None else None
        blocks: list[bytes] = []
        if policy == "prefix-aware":
            blocks = prompt_blocks(payload(), self.config.block_chars, self.config.max_blocks)
        placement = Placement(deployment, by_load + down, "least_loaded", blocks, session=digest)
        if len(replicas) == 1:  # no choice; still remembered, so the tables stay current
            placement.reason = "one_available"
            return self._placed(placement)
        if digest is None and not blocks:
            return self._placed(placement)
        found = await self._lookup(deployment.name, digest, blocks, [r.id for r in replicas])
        if policy == "session-affinity":
            chosen = self._affine(found, replicas, placement)
            if chosen is None and digest is not None:
                # A new (or moved) session: the least loaded; among equals the session's own
                # rendezvous-hash pick, so every gateway picks alike and sessions spread evenly.
                by_load = sorted(replicas, key=lambda r: (r.stats.load, -_rendezvous(digest, r.id)))
                placement.order = [*by_load, *down]
        else:
            chosen = self._prefix(found, by_load, placement)
        if chosen is not None:
            placement.order = [chosen, *(r for r in by_load if r is not chosen), *down]
        return self._placed(placement)

    def _affine(self, found: Lookup, replicas: list[Replica], placement: Placement) -> Replica | None:
        sticky = next((r for r in replicas if r.id == found.affinity), None)
        if sticky is None:
            placement.reason = "new_session" if found.affinity is None else "affinity_unavailable"
        elif sticky.saturated(self.config.saturation, self.config.kv_cache_saturation):
            placement.reason = "affinity_saturated"
        else:
            placement.reason = "affinity"
            return sticky
        return None

    def _prefix(self, found: Lookup, by_load: list[Replica], placement: Placement) -> Replica | None:
        """The replica with the best share of the prompt already cached, less its load (load
        share x `load_weight`): a long cached prefix is worth waiting behind a few requests."""
        total, weight, cfg = len(placement.blocks), self.config.load_weight, self.config
        open_ = [r for r in by_load if not r.saturated(cfg.saturation, cfg.kv_cache_saturation)] or by_load

        def score(replica: Replica) -> float:
            share = found.matched.get(replica.id, 0) / total if total else 0.0
            return share - weight * replica.stats.load / replica.stats.max_concurrency

        best = max(open_, key=score)  # ties: the less loaded (by_load order)
        longest = max(by_load, key=lambda r: found.matched.get(r.id, 0))
        placement.matched_blocks = found.matched.get(best.id, 0)
        if found.matched.get(longest.id, 0) == placement.matched_blocks:
            placement.reason = "prefix" if placement.matched_blocks else "no_prefix"
        elif longest not in open_:
            placement.reason = "prefix_saturated"  # the replica holding more is full: spilled
        else:
            placement.reason = "prefix_load"  # the one holding more is too much busier
        return best

    def by_load(self, deployment: str, replicas: list[Replica]) -> list[Replica]:
        """Least loaded first; equal loads take turns (idle replicas would otherwise all lose to
        the first one listed)."""
        turn = next(self._turns.setdefault(deployment, itertools.count()))
        count = len(replicas)
        order = sorted(range(count), key=lambda i: (replicas[i].stats.load, (i - turn) % count))
        return [replicas[i] for i in order]

    def _placed(self, placement: Placement) -> Placement:
        self.metrics.placements.labels(
            placement.deployment.name, placement.order[0].id, placement.reason
        ).inc()
        return placement

    def _store_usable(self) -> bool:
        return self._fallback is not self.store and time.monotonic() >= self._store_down_until

    def _store_missed(self) -> None:
        self.metrics.placement_store_errors.inc()
        if time.monotonic() >= self._store_down_until:
            log.warning("placement store did not answer; placing on this gateway's own tables for 1 s")
        self._store_down_until = time.monotonic() + 1.0

    async def _lookup(
        self, deployment: str, session: str | None, blocks: list[bytes], replicas: list[str]
    ) -> Lookup:
        if self._store_usable():
            try:
                return await self.store.lookup(deployment, session, blocks, replicas)
            except Exception:  # noqa: BLE001 - the shared store is down or slow: local knowledge
                self._store_missed()
        return self._fallback.lookup_now(deployment, session, blocks, replicas)

    def served(self, placement: Placement, replica: Replica) -> None:
        """A replica answered: it now holds this prompt's prefix (and the session)."""
        placement.served = replica
        if not placement.blocks and placement.session is None:
            return
        name = placement.deployment.name
        # Also kept locally while a shared store is used: placement goes on if it stops answering.
        self._fallback.record_now(name, placement.session, placement.blocks, replica.id)
        if self._store_usable():  # off the request path: the answer does not wait for Redis
            task = asyncio.create_task(self._record(name, placement, replica.id))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _record(self, deployment: str, placement: Placement, replica: str) -> None:
        try:
            await self.store.record(deployment, placement.session, placement.blocks, replica)
        except Exception:  # noqa: BLE001 - a missed record costs one future cache miss, no more
            self._store_missed()

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.store.aclose()
