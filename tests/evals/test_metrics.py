"""The evaluations' arithmetic, on a stub gateway that answers from a table (logic only; the real
stages are evaluated through a running gateway in tests/e2e/test_eval.py)."""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.evals import classifiers
from inferstack.evals.retrieval import scores
from inferstack.evals.sets import InjectionCase, PiiCase


class StubGateway:
    def __init__(self, answers: dict[str, dict[str, Any]]) -> None:
        self.answers = answers

    def reset(self, kind: str) -> None: ...

    def latency(self, kind: str) -> dict[str, float]:
        return {}

    def post(self, path: str, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return self.answers[body["text"]]


def finding(kind: str, start: int, end: int) -> dict[str, Any]:
    return {"type": kind, "start": start, "end": end, "score": 0.9}


def test_retrieval_scores() -> None:
    assert scores(["x", "a", "y"], frozenset({"a"})) == pytest.approx(
        {"mrr@10": 0.5, "recall@5": 1.0, "ndcg@10": 1 / 1.58496}, rel=1e-4
    )
    assert scores(["x"] * 3, frozenset({"a"}))["mrr@10"] == 0.0


def test_pii_counts_found_full_left_and_false_findings() -> None:
    text = "Call Ana Lima at 14 Rue des Lilas, Kubernetes says hi"
    #       0123456789012345678901234567890123456789
    cases = [PiiCase(text, (("PERSON", "Ana Lima"), ("LOCATION", "14 Rue des Lilas")))]
    answers = {text: {"findings": [finding("PERSON", 5, 13), finding("LOCATION", 20, 33),
                                   finding("LOCATION", 35, 45)],
                      "redacted_text": "Call <PERSON> at 14 <LOCATION>, <LOCATION> says hi"}}  # fmt: skip
    out = classifiers.pii(StubGateway(answers), cases)  # type: ignore[arg-type]
    assert out["recall"] == 1.0 and out["fully_redacted"] == 0.5  # the house number is still there
    assert out["values_left"] == 0 and out["false_findings"] == {"LOCATION": 1}
    assert out["precision"] == round(2 / 3, 4)
    assert out["errors"] == []  # misses are shown only when asked
    shown = classifiers.pii(StubGateway(answers), cases, show=5)["errors"]  # type: ignore[arg-type]
    assert shown == [{"text": text, "type": "LOCATION", "false_finding": "Kubernetes"}]


def test_injection_recall_and_false_positive_rate() -> None:
    cases = [InjectionCase("a1", True, "x"), InjectionCase("a2", True, "x"), InjectionCase("b1", False, "y"),
             InjectionCase("b2", False, "y")]  # fmt: skip
    answers = {"a1": {"findings": [finding("PROMPT_INJECTION", 0, 2)]},
               "a2": {"findings": [finding("TOXIC", 0, 2)]},
               "b1": {"findings": [finding("JAILBREAK", 0, 2)]}, "b2": {"findings": []}}  # fmt: skip
    out = classifiers.injection(StubGateway(answers), cases)  # type: ignore[arg-type]
    assert (out["recall"], out["false_positive_rate"]) == (0.5, 0.5)
    assert out["flagged_share_by_category"] == {"attack/x": 0.5, "benign/y": 0.5}
