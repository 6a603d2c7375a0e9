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

from redis.exceptions import RedisError

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


class QuotaService:
    def __init__(
        self,
        config: QuotasConfig,
        metrics: QuotaMetrics,
        key_limits: Mapping[str, Limits],
        tenant_usd_per_day: Mapping[str, float],
        store: QuotaStore | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.local = LocalQuotaStore()
        self.store = store or self.local
        self._down_until = 0.0
        self._settling: set[asyncio.Task[None]] = set()
        self._key_subjects = {k: Subject(f"key:{k}", v) for k, v in key_limits.items() if v.any}
        tenants = {t.tenant: Limits(**t.model_dump(exclude={"tenant"})) for t in config.tenants}
        for tenant, usd in tenant_usd_per_day.items():  # `router.budgets`: daily spend of a tenant
            base = tenants.get(tenant, config.default)
            if base.usd_per_day is None:
                tenants[tenant] = base.model_copy(update={"usd_per_day": usd})
        self._tenant_subjects = {t: Subject(f"tenant:{t}", v) for t, v in tenants.items() if v.any}
        self._default = config.default

    def subjects(self, tenant: str, key_id: str | None) -> tuple[Subject, ...]:
        found = []
        if key_id is not None and key_id in self._key_subjects:
            found.append(self._key_subjects[key_id])
        subject = self._tenant_subjects.get(tenant)
        if subject is None and self._default.any:
            subject = Subject(f"tenant:{tenant}", self._default)
        if subject is not None:
            found.append(subject)
        return tuple(found)

    async def _call(self, op: str, store: QuotaStore, work: Callable[[QuotaStore], Awaitable[T]]) -> T:
        if store is self.local:
            return await work(store)
        if time.monotonic() >= self._down_until:
            started = time.perf_counter()
            try:
                return await work(store)
            except QuotaExceeded:
                raise
            except (RedisError, OSError) as exc:
                self._down_until = time.monotonic() + RETRY_AFTER_ERROR_S
                self.metrics.store_errors.labels(store.name, self.config.on_store_error).inc()
                log.warning(
                    "quotas: %s store failed (%s); %s", store.name, type(exc).__name__,
                    "counting in this process" if self.config.on_store_error == "open" else "refusing",
                )  # fmt: skip
            finally:
                self.metrics.store_seconds.labels(store.name, op).observe(time.perf_counter() - started)
        if self.config.on_store_error == "closed":
            raise QuotaStoreUnavailable()
        return await work(self.local)

    async def admit(self, subjects: tuple[Subject, ...], tokens: int) -> Grant:
        lease = os.urandom(12).hex()
        try:
            return await self._call(
                "admit", self.store, lambda s: s.admit(subjects, tokens, lease, self.config.lease_s)
            )
        except QuotaExceeded as exc:
            self.metrics.rejections.labels(exc.kind).inc()
            raise

    async def reserve_usd(self, grant: Grant, usd: float) -> None:
        if not grant.budgeted or usd <= 0:
            return
        try:
            await self._call("reserve_usd", grant.store, lambda s: s.reserve_usd(grant, round(usd * NANO)))
        except QuotaExceeded as exc:
            self.metrics.rejections.labels(exc.kind).inc()
            raise

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
        try:
            await self._call("settle", grant.store, lambda s: s.settle(grant, tokens, round(usd * NANO)))
        except QuotaStoreUnavailable:  # logged, never raised: the answer has already gone out
            log.warning("quotas: a settlement was lost (store unreachable); its lease expires by itself")

    async def drain(self) -> None:
        """Wait for the settlements in flight."""
        await asyncio.gather(*self._settling)

    async def aclose(self) -> None:
        await self.drain()
        if self.store is not self.local:
            await self.store.aclose()
