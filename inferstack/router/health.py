"""Health polling for backends the gateway does not supervise itself (remote endpoints)."""

from __future__ import annotations

import asyncio
import contextlib

from inferstack.router.backend import BackendState, OpenAIBackend


class HealthPoller:
    """Probes `backend`'s health URL every `interval_s`; a backend without a health URL (a
    managed API) is taken as healthy and its errors are handled per request."""

    def __init__(self, backend: OpenAIBackend, *, enabled: bool, interval_s: float = 2.0) -> None:
        self.backend = backend
        self.enabled = enabled
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if not self.enabled:
            self.backend.state = BackendState.HEALTHY
            return
        await self._check()  # know the state before the first request
        self._task = asyncio.create_task(self._loop(), name=f"health-{self.backend.name}")

    async def _check(self) -> None:
        healthy = await self.backend.probe()
        self.backend.state = BackendState.HEALTHY if healthy else BackendState.UNHEALTHY

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self._check()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
