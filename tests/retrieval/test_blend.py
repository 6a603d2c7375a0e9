"""How reranker and retrieval scores combine (pure logic, no models)."""

from __future__ import annotations

import math

import pytest

from inferstack.retrieval.service import blend


def order(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: -scores[i])


RETRIEVAL = [0.9, 0.8, 0.5, 0.1]  # fused scores, best first
RERANK = [-1.0, 3.0, 2.5, -4.0]  # logits: the reranker prefers candidates 1 and 2


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (0.0, [1, 2, 0, 3]),  # the reranker's order alone
        (1.0, [1, 0, 2, 3]),  # the reranker's favourite rises; retrieval settles the close 0-vs-2 call
        (100.0, [0, 1, 2, 3]),  # retrieval dominates
    ],
)
def test_weight_moves_the_order_between_reranker_and_retrieval(weight: float, expected: list[int]) -> None:
    assert order(blend(RETRIEVAL, RERANK, weight)) == expected


def test_a_close_reranker_call_defers_to_retrieval() -> None:
    # The reranker barely prefers candidate 1; retrieval clearly prefers candidate 0.
    assert order(blend([0.9, 0.2, 0.1], [1.0, 1.05, -2.0], 1.0))[0] == 0


def test_scale_of_either_score_does_not_matter() -> None:
    base = blend(RETRIEVAL, RERANK, 1.0)
    scaled = blend([10 * r for r in RETRIEVAL], [0.01 * r + 5 for r in RERANK], 1.0)
    assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(base, scaled, strict=True))


@pytest.mark.parametrize("n", [1, 3])
def test_constant_scores_give_finite_results(n: int) -> None:
    assert all(math.isfinite(s) for s in blend([0.5] * n, [2.0] * n, 1.0))
