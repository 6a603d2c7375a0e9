"""Which limits a request is counted against, and the store that counts them. With Redis, a
failed call is answered by the configured mode: `open` counts in this process meanwhile (and
warns), `closed` refuses with 503; Redis is retried by itself a second later."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from inferstack.config.quotas import Limits, QuotasConfig
from inferstack.quota.metrics import QuotaMetrics
from inferstack.quota.store import (
    NANO,
    Grant,
    LocalQuotaStore,
    QuotaExceeded,
    QuotaStore,
    QuotaStoreUnavailable,
    Subject,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_AFTER_ERROR_S = 1.0


class _Down:
    """What a call on an unreachable store returns instead of its result."""


DOWN = _Down()


class QuotaService:
    def __init__(
        self,
        config: QuotasConfig,
        metrics: QuotaMetrics,
        tenant_usd_per_day: Mapping[str, float],
        store: QuotaStore | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.local = LocalQuotaStore()
        self.store = store or self.local
        self._down_until = 0.0
        self._settling: set[asyncio.Task[None]] = set()
        tenants = {t.tenant: Limits(**t.model_dump(exclude={"tenant"})) for t in config.tenants}
        for tenant, usd in tenant_usd_per_day.items():  # `router.budgets`: daily spend of a tenant
            base = tenants.get(tenant, config.default)
            if base.usd_per_day is None:
                tenants[tenant] = base.model_copy(update={"usd_per_day": usd})
        # A listed tenant without limits has none (the default is for tenants not listed).
        self._tenants = {t: Subject(f"tenant:{t}", v) if v.limited else None for t, v in tenants.items()}
        self._default = config.default if config.default.limited else None

    def subjects(self, tenant: str, key_id: str | None, key_limits: Limits | None) -> tuple[Subject, ...]:
        """The key (when it has limits of its own) and the tenant (its limits, else the default)."""
        found = []
        if key_id is not None and key_limits is not None and key_limits.limited:
            found.append(Subject(f"key:{key_id}", key_limits))
        if tenant in self._tenants:
            subject = self._tenants[tenant]
        else:
            subject = None if self._default is None else Subject(f"tenant:{tenant}", self._default)
        if subject is not None:
            found.append(subject)
        return tuple(found)

    def _failed(self, store: QuotaStore, exc: BaseException) -> None:
        self._down_until = time.monotonic() + RETRY_AFTER_ERROR_S
        self.metrics.store_errors.labels(store.name, self.config.on_store_error).inc()
        log.warning("quotas: %s store failed (%s)", store.name, type(exc).__name__)

    async def _on(self, op: str, store: QuotaStore, work: Callable[[QuotaStore], Awaitable[T]]) -> T | _Down:
        """`work` on `store`, timed; DOWN when a shared store is unreachable (or was a moment ago)."""
        if store is not self.local and time.monotonic() < self._down_until:
            return DOWN
        started = time.perf_counter()
        try:
            return await work(store)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._failed(store, exc)
            return DOWN
        finally:
            self.metrics.store_seconds.labels(store.name, op).observe(time.perf_counter() - started)

    async def admit(self, subjects: tuple[Subject, ...], tokens: int) -> Grant:
        """Admission on the store; with it unreachable, `open` admits on this process's counts
        (the grant then stays there), `closed` refuses with 503."""
        lease, lease_s = os.urandom(12).hex(), self.config.lease_s
        try:
            grant = await self._on("admit", self.store, lambda s: s.admit(subjects, tokens, lease, lease_s))
            if isinstance(grant, _Down):
                if self.config.on_store_error == "closed":
                    raise QuotaStoreUnavailable()
                grant = await self.local.admit(subjects, tokens, lease, lease_s)
            return grant
        except QuotaExceeded as exc:
            self.metrics.rejections.labels(exc.kind).inc()
            raise

    async def reserve_usd(self, grant: Grant, usd: float) -> None:
        """On the store that admitted the grant, never another: an unreachable one refuses
        (`closed`) or lets this estimate through uncounted (`open`; settlement still counts)."""
        if not grant.budgeted or usd <= 0:
            return
        nano = round(usd * NANO)
        try:
            done = await self._on("reserve_usd", grant.store, lambda s: _done(s.reserve_usd(grant, nano)))
        except QuotaExceeded as exc:
            self.metrics.rejections.labels(exc.kind).inc()
            raise
        if done is DOWN and self.config.on_store_error == "closed":
            raise QuotaStoreUnavailable()

    def settle(self, grant: Grant, tokens: int, usd: float) -> None:
        """The real use replaces the reservation (0, 0 on failure: a release); once per grant.
        It runs off the answer's path: the reservation holds until the settlement lands, so
        settling a moment after the answer leaves lets nothing through that should not pass."""
        if grant.done:
            return
        grant.done = True
        task = asyncio.get_running_loop().create_task(self._settle(grant, tokens, usd))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle(self, grant: Grant, tokens: int, usd: float) -> None:
        nano = round(usd * NANO)
        done = await self._on("settle", grant.store, lambda s: _done(s.settle(grant, tokens, nano)))
        if done is DOWN:  # logged, never raised: the answer has already gone out
            log.warning("quotas: a settlement was lost (store unreachable); its lease expires by itself")

    async def drain(self) -> None:
        """Wait for the settlements in flight."""
        await asyncio.gather(*self._settling)

    async def aclose(self) -> None:
        await self.drain()
        if self.store is not self.local:
            await self.store.aclose()


async def _done(work: Awaitable[None]) -> bool:
    await work
    return True
