"""The latest finished calls in outline, for the operator page: which deployment answered, why,
at what cost. Never prompt or answer text, never keys: names, reason codes, numbers and
finding types only."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from inferstack.pipeline.call import Call


def outline(call: Call, at: float) -> dict[str, Any]:
    """One finished call as the operator page lists it."""
    decision = call.decision
    served = call.outcome.served_by
    retrieval = call.extension.get("retrieval") or {}
    guard = call.extension.get("guard") or {}
    findings = sorted({kind for side in guard.values() if side for kind in side.get("findings", {})})
    return {
        "at": round(at, 3),
        "tenant": call.tenant,
        "deployment": None if decision is None else decision.deployment.name,
        "reason": None if decision is None else decision.reason,
        "served_by": None if served is None else served.name,
        "estimated_cost_usd": None if decision is None else round(decision.estimated_cost_usd, 8),
        "actual_cost_usd": None if call.cost_usd is None else round(call.cost_usd, 8),
        "intent": None if call.intent is None else call.intent.label,
        "screened_out": retrieval.get("screened_out") or 0,
        "guard_findings": findings,
        "cache": call.headers.get("x-inferstack-cache"),
    }


class RecentCalls:
    """A bounded log, newest last; appending is O(1) on the request path."""

    def __init__(self, limit: int = 50) -> None:
        self._calls: deque[dict[str, Any]] = deque(maxlen=limit)

    def record(self, call: Call) -> None:
        self._calls.append(outline(call, time.time()))

    def latest(self, n: int | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        calls = list(reversed(self._calls))
        return calls if n is None else calls[:n]
