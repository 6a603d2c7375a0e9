"""The quota stage's settlement rules over the in-process store: the real usage when the answer
has it, the whole reservation when a backend worked but the usage is unknown (a client gone
mid-stream), nothing when no backend worked; and the x-ratelimit headers."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from inferstack.config.quotas import Limits, QuotasConfig
from inferstack.pipeline.call import Call
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stages.quota import QuotaStage, rate_headers
from inferstack.quota.metrics import QuotaMetrics
from inferstack.quota.service import QuotaService

LIMITS = Limits(requests_per_minute=10, tokens_per_minute=1000)


def stage() -> tuple[QuotaStage, QuotaService]:
    quotas = QuotaService(QuotasConfig(default=LIMITS), QuotaMetrics(CollectorRegistry()), {})
    return QuotaStage(quotas, default_output=100), quotas


def call(**body: Any) -> Call:
    request = ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x" * 40}], "max_tokens": 100, **body}
    )
    return Call(request, "rid", "acme")


def tokens_left(quotas: QuotaService) -> float:
    return quotas.local.buckets[("tenant:acme", "tokens")].level


@pytest.mark.parametrize(
    ("served", "usage", "left"),
    [
        (True, {"total_tokens": 30}, 970),  # settled to what the answer used
        (True, None, 1000 - 114),  # a backend worked, usage unknown: the whole reservation
        (False, None, 1000),  # nothing generated: released
    ],
)
async def test_the_closer_settles_by_what_happened(served: bool, usage: Any, left: float) -> None:
    quota, quotas = stage()
    c = call()
    await quota.on_request(c)
    assert tokens_left(quotas) == pytest.approx(1000 - 114, abs=1)  # 40 chars / 4 + 4 + max_tokens
    c.usage = usage
    if served:
        c.outcome.served_by = object()  # type: ignore[assignment]  # any deployment
    c.close()  # how a call ends without an answer passing back up (error, client gone)
    await quotas.drain()
    assert tokens_left(quotas) == pytest.approx(left, abs=1)


async def test_n_choices_reserve_n_outputs_and_headers_show_the_tightest_limit() -> None:
    quota, quotas = stage()
    c = call(n=3)
    await quota.on_request(c)
    assert tokens_left(quotas) == pytest.approx(1000 - (14 + 300), abs=1)
    quota.on_headers(c)
    assert c.headers["x-ratelimit-limit-requests"] == "10"
    assert c.headers["x-ratelimit-remaining-requests"] == "9"
    assert c.headers["x-ratelimit-remaining-tokens"] == str(int(tokens_left(quotas)))
    assert c.headers["x-ratelimit-reset-requests"] == "6s"  # one request refills in 60/10 s
    assert rate_headers(c.state["quota"]) == {
        k: v for k, v in c.headers.items() if k.startswith("x-ratelimit")
    }
