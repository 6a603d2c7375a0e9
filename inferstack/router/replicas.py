"""Replicas of one deployment: each an OpenAI-compatible endpoint with its own health, circuit
breaker and live load, and the DNS watcher that keeps a Kubernetes headless Service's pod
addresses current."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from inferstack.router.backend import OpenAIBackend
from inferstack.router.breaker import CircuitBreaker
from inferstack.router.health import HealthPoller
from inferstack.router.stats import LiveStats, VllmStatsScraper

log = logging.getLogger(__name__)


def replica_id(base_url: str) -> str:
    """The replica's name on every gateway: host:port (and a path other than /v1); never the
    URL's user or password."""
    parts = urlsplit(base_url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return host + port + parts.path.rstrip("/").removesuffix("/v1")


@dataclass(eq=False)
class Replica:
    id: str
    backend: OpenAIBackend
    breaker: CircuitBreaker
    stats: LiveStats
    poller: HealthPoller | None = None  # remote replicas; a supervisor watches local ones
    scraper: VllmStatsScraper | None = None  # vLLM replicas: live load from /metrics

    def unavailable_why(self) -> str | None:
        if not self.backend.healthy:
            return f"backend {self.backend.state.value}"
        if not self.breaker.available():
            return "circuit open"
        return None

    def saturated(self, factor: float, kv_cache_full: float) -> bool:
        """At `factor` x its max_concurrency, or its KV cache (vLLM's gauge) at `kv_cache_full`:
        a new request would queue, or evict the prefixes placement counts on."""
        usage = self.stats.kv_cache_usage
        return self.stats.load >= factor * self.stats.max_concurrency or (
            usage is not None and usage >= kv_cache_full
        )

    async def start_watching(self) -> None:
        if self.poller is not None:
            await self.poller.start()
        if self.scraper is not None:
            self.scraper.start()

    async def aclose(self) -> None:
        if self.scraper is not None:
            await self.scraper.stop()
        if self.poller is not None:
            await self.poller.stop()
        await self.backend.aclose()


async def resolve_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, sorted: its IPv4 ones, or its IPv6 ones when it has
    none (a dual-stack pod is one replica, not two); [] when the name does not exist (a Service
    scaled to zero). Other failures (a DNS timeout) raise OSError."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return []
        raise
    v4 = sorted({str(i[4][0]) for i in infos if i[0] == socket.AF_INET})
    return v4 or sorted({str(i[4][0]) for i in infos})


def url_for_address(base_url: str, address: str) -> str:
    """base_url with its host replaced by one resolved address."""
    parts = urlsplit(base_url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class ReplicaResolver:
    """Re-resolves a deployment's host every `interval_s`: new addresses become replicas (built
    by `make`, unhealthy until their first health check), vanished ones stop taking calls at
    once and are closed when their calls in flight end (or after `drain_s`)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        replicas: list[Replica],
        make: Callable[[str], Replica],
        interval_s: float,
        resolve: Callable[[str, int], Awaitable[list[str]]] = resolve_addresses,
        on_leave: Callable[[Replica], None] = lambda _replica: None,
        drain_s: float = 600.0,
    ) -> None:
        parts = urlsplit(base_url)
        self.name = name
        self.base_url = base_url
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.replicas = replicas  # the deployment's own list, changed in place
        self.make = make
        self.interval_s = interval_s
        self._resolve = resolve
        self.on_leave = on_leave
        self.drain_s = drain_s
        self._task: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()

    async def refresh(self) -> None:
        try:
            addresses = await self._resolve(self.host, self.port)
        except OSError as exc:  # a DNS hiccup must not drop every replica: keep the last known set
            log.warning(
                "replicas of %s: resolving failed (%s); keeping %d", self.name, exc, len(self.replicas)
            )
            return
        wanted = {replica_id(url): url for url in (url_for_address(self.base_url, a) for a in addresses)}
        current = {r.id: r for r in self.replicas}
        for gone in [r for rid, r in current.items() if rid not in wanted]:
            self.replicas.remove(gone)
            log.info("replicas of %s: %s left", self.name, gone.id)
            self._drain(gone)
        for rid, url in wanted.items():
            if rid not in current:
                replica = self.make(url)
                self.replicas.append(replica)  # listed first, so shutting down closes it too
                await replica.start_watching()
                log.info("replicas of %s: %s joined", self.name, rid)

    def _drain(self, replica: Replica) -> None:
        replica.backend.mark("stopped")  # no new call goes there; a stale target fails over
        self.on_leave(replica)

        async def close_when_idle() -> None:
            deadline = asyncio.get_running_loop().time() + self.drain_s
            try:
                # in_flight is a plain counter the executor keeps: polled, once a second is enough
                while replica.stats.in_flight > 0 and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(1.0)
            finally:
                await replica.aclose()

        task = asyncio.create_task(close_when_idle(), name=f"drain-{replica.id}")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name=f"resolve-{self.name}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.refresh()
            except Exception:
                log.warning("replicas of %s: refresh failed", self.name, exc_info=True)

    async def stop(self) -> None:
        """Stop resolving; replicas still draining are closed now."""
        for task in [self._task, *self._draining]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
