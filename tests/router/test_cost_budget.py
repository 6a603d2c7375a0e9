from __future__ import annotations

import pytest

from inferstack.config.router import GpuHourlyCost, PerTokenCost
from inferstack.router.cost import price_of


def test_self_hosted_price_is_hourly_cost_over_throughput() -> None:
    cost = GpuHourlyCost(usd_per_hour=3.6, fallback_tokens_per_s=1000, input_cost_ratio=0.1)
    fallback = price_of(cost, None)
    assert fallback.output_usd_per_1m == pytest.approx(1.0)  # 3.6 $/h / 3.6M tokens/h
    assert fallback.input_usd_per_1m == pytest.approx(0.1)
    assert fallback.basis == "fallback 1000 tok/s"
    measured = price_of(cost, 250.0)
    assert measured.output_usd_per_1m == pytest.approx(4.0) and measured.basis == "measured 250 tok/s"


def test_managed_price_and_usage_cost() -> None:
    price = price_of(PerTokenCost(input_usd_per_1m=2.0, output_usd_per_1m=8.0), 123.0)
    assert price.basis == "list price"
    assert price.usd(1_000_000, 500_000) == pytest.approx(6.0)
    assert price.usd_for_usage({"prompt_tokens": 10, "completion_tokens": 5}) == pytest.approx(60e-6)
    assert price.usd_for_usage(None) is None
    assert price.usd_for_usage({"prompt_tokens": 10}) is None
