"""The quota stages. `quota` (outermost) admits a call against its key's and tenant's request,
token and concurrency limits before any stage spends CPU, adds OpenAI's `x-ratelimit-*`
headers, and settles the reservation with the real usage when the answer ends (or releases it
when the call fails or the client leaves). `budget` (after `route`) reserves the chosen
deployment's estimated cost against the USD budgets."""

from __future__ import annotations

import math
from typing import Any

from inferstack.config import Settings
from inferstack.pipeline.call import Call
from inferstack.pipeline.stage import Components, Stage
from inferstack.pipeline.stages.route import prompt_features
from inferstack.quota.service import QuotaService
from inferstack.quota.store import NANO, Grant, format_reset

_STATE = "quota"


def rate_headers(grant: Grant) -> dict[str, str]:
    """The `x-ratelimit-*` headers for requests and tokens: of the subject with the least left."""
    headers: dict[str, str] = {}
    rows = list(zip(grant.subjects, grant.standing, strict=True))
    requests = [(st.requests, st.requests_reset_ms, s.limits.requests_per_minute) for s, st in rows]
    tokens = [(st.tokens, st.tokens_reset_ms, s.limits.tokens_per_minute) for s, st in rows]
    for kind, entries in (("requests", requests), ("tokens", tokens)):
        known = [
            (left, reset, limit) for left, reset, limit in entries if left is not None and reset is not None
        ]
        if known:
            left, reset, limit = min(known, key=lambda entry: entry[0])
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(left)))
            headers[f"x-ratelimit-reset-{kind}"] = format_reset(reset / 1000)
    return headers


class QuotaStage(Stage):
    name = "quota"

    def __init__(self, quotas: QuotaService, default_output: int) -> None:
        self.quotas = quotas
        self.default_output = default_output

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.quotas_active

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        if parts.quotas is None:
            return None
        return cls(parts.quotas, parts.settings.router.default_output_tokens)

    async def on_request(self, call: Call) -> None:
        subjects = self.quotas.subjects(call.tenant, call.key_id, call.key_limits)
        if not subjects:
            return
        features = prompt_features(call.request, None, self.default_output)
        choices = max(call.request.n, getattr(call.request, "best_of", None) or 1)
        grant = await self.quotas.admit(subjects, features.prompt_tokens + features.output_tokens * choices)
        call.state[_STATE] = grant
        call.budget_left_usd = grant.budget_left_usd
        # However the call ends (an error, a cancel, the client gone mid-stream): settled if a
        # backend was at work (what it used when known, else the whole reservation), released
        # if none was. Nothing once the answer has settled it.
        call.closers.append(lambda: self._settle(call))

    def on_headers(self, call: Call) -> None:
        grant = call.state.get(_STATE)
        if grant is not None:
            call.headers.update(rate_headers(grant))

    def _settle(self, call: Call) -> None:
        grant: Grant | None = call.state.get(_STATE)
        if grant is None or grant.done:
            return
        if call.outcome.served_by is None:  # no backend did any work (refused, cached, failed)
            self.quotas.settle(grant, 0, 0.0)
            return
        tokens = (call.usage or {}).get("total_tokens")
        if not isinstance(tokens, int):
            tokens = grant.tokens
        usd = call.cost_usd if call.cost_usd is not None else grant.usd_nano / NANO
        self.quotas.settle(grant, tokens, usd)

    async def on_body(self, call: Call, body: dict[str, Any]) -> None:
        self._settle(call)

    async def on_stream_end(self, call: Call) -> list[bytes]:
        self._settle(call)
        return []


class BudgetStage(Stage):
    name = "budget"

    def __init__(self, quotas: QuotaService) -> None:
        self.quotas = quotas

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.quotas_active and "quota" in settings.pipeline.stages

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        return None if parts.quotas is None else cls(parts.quotas)

    async def on_request(self, call: Call) -> None:
        grant: Grant | None = call.state.get(_STATE)
        if grant is not None and call.decision is not None:
            await self.quotas.reserve_usd(grant, call.decision.estimated_cost_usd)
