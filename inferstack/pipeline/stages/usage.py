"""The usage stage: counts the answer's tokens per deployment, settles its actual cost with the
router (charged to the tenant's budget), and drops the usage chunk a client did not ask for
(the backend is always asked for usage, so the metrics count every stream)."""

from __future__ import annotations

from typing import Any

import orjson

from inferstack.pipeline.call import Call
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.pipeline.stage import Components, Stage
from inferstack.router.executor import sse
from inferstack.router.service import RouterService


class UsageStage(Stage):
    name = "usage"

    def __init__(self, router: RouterService, metrics: PipelineMetrics) -> None:
        self.router = router
        self.metrics = metrics

    @classmethod
    def build(cls, parts: Components) -> Stage:
        return cls(parts.router, parts.metrics)

    def _settle(self, call: Call) -> None:
        if call.decision is not None and call.outcome.served_by is not None:
            call.cost_usd = self.router.settle(call.decision, call.outcome, call.usage)

    def _count(self, call: Call, usage: Any) -> None:
        call.usage = usage if isinstance(usage, dict) else None
        served = call.outcome.served_by
        if served is not None:
            self.metrics.count_usage(served.name, usage)

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        self._count(call, body.get("usage"))
        self._settle(call)

    def on_event(self, call: Call, event: bytes) -> bytes | None:
        if b'"usage":{' not in event:
            return event
        chunk = orjson.loads(event[6:])
        self._count(call, chunk.get("usage"))
        if call.request.wants_usage_chunk:
            return event
        if not chunk.get("choices"):
            return None
        chunk.pop("usage", None)
        return sse(chunk)

    async def on_stream_end(self, call: Call) -> list[bytes]:
        self._settle(call)
        return []
