"""Replica placement: which replica of the chosen deployment serves a call.

`prefix-aware` hashes the prompt into a chain of fixed-size blocks (each hash covers every block
before it, as vLLM's own KV-block hashes do), looks up which replica recently served the longest
run of those blocks (its prefix cache likely still holds them) and sends the call there unless
that replica is saturated. `session-affinity` keeps a session (or the request's `user`) on one
replica while it is healthy and not saturated. The tables live in a `PlacementStore`: this
process's (one gateway) or Redis (every gateway replica sees the same placement)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import orjson

from inferstack.config.router import PlacementConfig
from inferstack.router.deployments import Deployment
from inferstack.router.metrics import RouterMetrics
from inferstack.router.placement_store import LocalPlacementStore, Lookup, PlacementStore
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


def _rendezvous(session: str, replica: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{session}|{replica}".encode(), digest_size=8).digest(), "big")


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
    load: int | None = None  # the chosen replica's, when it was chosen
    kv_cache_usage: float | None = None

    def describe(self, policy: str) -> dict[str, Any]:
        described: dict[str, Any] = {
            "policy": policy,
            "replica": self.order[0].id if self.order else None,
            "served_by": self.served.id if self.served else None,
            "reason": self.reason,
            "replicas": len(self.deployment.replicas),
            "load": self.load,
            "kv_cache_usage": self.kv_cache_usage,
        }
        if policy == "prefix-aware" and self.reason != "only":
            described["matched_blocks"] = self.matched_blocks
            described["blocks"] = len(self.blocks)
        return described


_MAX_PENDING = 256  # background records to Redis at once; more are left to the local tables


class Placer:
    """Orders a deployment's replicas for one call by the configured policy.

    `secret` keys the session digests (the same on every gateway, so they agree on them)."""

    def __init__(
        self, config: PlacementConfig, store: PlacementStore, metrics: RouterMetrics, secret: bytes = b""
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.secret = secret[:64]  # blake2b keys are at most 64 bytes
        self._local = (
            store
            if isinstance(store, LocalPlacementStore)
            else LocalPlacementStore(config.ttl_s, config.max_entries)
        )
        self._turns: dict[str, itertools.count[int]] = {}  # equal loads take turns
        self._robin: dict[str, itertools.count[int]] = {}  # round-robin's own counter
        self._lapses: dict[tuple[str, str], int] = {}  # times each replica was seen going down
        self._pending: set[asyncio.Task[None]] = set()
        self._store_down_until = 0.0  # after a miss the shared store is left alone for a second

    async def place(
        self, deployment: Deployment, payload: Callable[[], dict[str, Any]], session: str | None
    ) -> Placement:
        """`payload`: the body the chosen deployment would get (hashed for prefix-aware only);
        `session`: the session id or `user` (read by session-affinity only)."""
        if len(deployment.replicas) <= 1:
            return Placement(deployment, list(deployment.replicas), "only")
        self._notice_lapses(deployment)
        replicas = deployment.available_replicas()
        policy = self.config.policy
        if not replicas:  # each is tried anyway, in case one is back already
            return self._placed(
                Placement(deployment, self.by_load(deployment.name, deployment.replicas), "none_available")
            )
        if policy == "round-robin":
            start = next(self._robin.setdefault(deployment.name, itertools.count())) % len(replicas)
            return self._placed(Placement(deployment, replicas[start:] + replicas[:start], "round_robin"))
        by_load = self.by_load(deployment.name, replicas)
        placement = Placement(deployment, by_load, "least_loaded")
        if policy == "least-loaded":
            return self._placed(placement)
        if policy == "prefix-aware":
            placement.blocks = prompt_blocks(payload(), self.config.block_chars, self.config.max_blocks)
        elif session is not None:
            placement.session = self.session_digest(session)
        if len(replicas) == 1:  # no choice; still remembered, so the tables stay current
            placement.reason = "one_available"
            return self._placed(placement)
        if placement.session is None and not placement.blocks:
            return self._placed(placement)
        found = await self._lookup(deployment.name, placement, [r.id for r in replicas])
        if policy == "session-affinity":
            chosen = self._affine(found, replicas, placement)
            if chosen is None and placement.session is not None:
                # A new (or moved) session: the least loaded; among equals the session's own
                # rendezvous-hash pick, so every gateway picks alike and sessions spread evenly.
                digest = placement.session
                by_load = sorted(replicas, key=lambda r: (r.stats.load, -_rendezvous(digest, r.id)))
                placement.order = by_load
        else:
            chosen = self._prefix(found, by_load, placement)
        if chosen is not None:
            placement.order = [chosen, *(r for r in by_load if r is not chosen)]
        return self._placed(placement)

    def session_digest(self, session: str) -> str:
        """Sessions and users are kept by a keyed digest: the tables never hold the raw id."""
        return hashlib.blake2b(session.encode(), digest_size=12, key=self.secret).hexdigest()

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
        total, cfg = len(placement.blocks), self.config
        # Only replicas within `balance` x max_concurrency of the least loaded compete on their
        # cached prefix: a shared system prompt would otherwise pull every new conversation onto
        # the replica that served it first.
        least = by_load[0].stats.load
        open_ = [
            r for r in by_load
            if not r.saturated(cfg.saturation, cfg.kv_cache_saturation)
            and r.stats.load - least <= max(1.0, cfg.balance * r.stats.max_concurrency)
        ] or by_load[:1]  # fmt: skip

        def score(replica: Replica) -> float:
            share = found.matched.get(replica.id, 0) / total if total else 0.0
            return share - cfg.load_weight * replica.stats.load / replica.stats.max_concurrency

        best = max(open_, key=score)  # ties: the less loaded (by_load order)
        longest = max(by_load, key=lambda r: found.matched.get(r.id, 0))
        placement.matched_blocks = found.matched.get(best.id, 0)
        if found.matched.get(longest.id, 0) == placement.matched_blocks:
            placement.reason = "prefix" if placement.matched_blocks else "no_prefix"
        elif longest not in open_:
            full = longest.saturated(cfg.saturation, cfg.kv_cache_saturation)
            placement.reason = "prefix_saturated" if full else "prefix_imbalance"  # spilled
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
        chosen = placement.order[0]
        placement.load, placement.kv_cache_usage = chosen.stats.load, chosen.stats.kv_cache_usage
        self.metrics.placements.labels(placement.deployment.name, chosen.id, placement.reason).inc()
        return placement

    def _notice_lapses(self, deployment: Deployment) -> None:
        """A replica that went down since the last look lost its KV cache (a restart, a new pod
        on the old address): the prefixes it served before are forgotten."""
        for replica in deployment.replicas:
            key = (deployment.name, replica.id)
            lapses = replica.backend.lapses
            if self._lapses.setdefault(key, lapses) != lapses:
                self._lapses[key] = lapses
                self._local.forget_now(deployment.name, replica.id)
                self._in_background(self.store.forget(deployment.name, replica.id))

    def _store_usable(self) -> bool:
        return self._local is not self.store and time.monotonic() >= self._store_down_until

    def _store_missed(self) -> None:
        self.metrics.placement_store_errors.inc()
        if time.monotonic() >= self._store_down_until:
            log.warning("placement store did not answer; placing on this gateway's own tables for 1 s")
        self._store_down_until = time.monotonic() + 1.0

    async def _lookup(self, deployment: str, placement: Placement, replicas: list[str]) -> Lookup:
        if self._store_usable():
            try:
                return await self.store.lookup(deployment, placement.session, placement.blocks, replicas)
            except Exception:  # noqa: BLE001 - the shared store is down or slow: local knowledge
                self._store_missed()
        return self._local.lookup_now(deployment, placement.session, placement.blocks, replicas)

    def served(self, placement: Placement, replica: Replica) -> None:
        """A replica answered: it now holds this prompt's prefix (and the session)."""
        placement.served = replica
        if not placement.blocks and placement.session is None:
            return
        name = placement.deployment.name
        # Also kept locally while a shared store is used: placement goes on if it stops answering.
        self._local.record_now(name, placement.session, placement.blocks, replica.id)
        self._in_background(self.store.record(name, placement.session, placement.blocks, replica.id))

    def _in_background(self, call: Coroutine[Any, Any, None]) -> None:
        """Send a write to the shared store off the request path (the answer does not wait)."""
        if not self._store_usable() or len(self._pending) >= _MAX_PENDING:
            call.close()
            return
        task = asyncio.create_task(self._guarded(call))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _guarded(self, call: Coroutine[Any, Any, None]) -> None:
        try:
            await call
        except Exception:  # noqa: BLE001 - a missed write costs one future cache miss, no more
            self._store_missed()

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.store.aclose()
