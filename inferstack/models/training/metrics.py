"""Evaluation metrics: intent accuracy / macro-F1 / per-label recall; entity-level NER F1."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from inferstack.models.training.ner_data import NER_LABELS, NerExample

Span = tuple[int, int, str]


def intent_metrics(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p == label != g)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label != p)
        per_label[label] = _prf(tp, fp, fn)
    accuracy = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / max(1, len(gold))
    macro_f1 = sum(v["f1"] for v in per_label.values()) / len(labels)
    return {"accuracy": round(accuracy, 4), "macro_f1": round(macro_f1, 4), "per_label": per_label}


def ner_metrics(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], labels: Sequence[str]
) -> dict[str, Any]:
    """Exact-span entity F1 per label (a span counts only with the right start, end and label)."""
    out: dict[str, Any] = {}
    for label in labels:
        tp = fp = fn = 0
        for g_spans, p_spans in zip(gold, predicted, strict=True):
            g = {s for s in g_spans if s[2] == label}
            p = {s for s in p_spans if s[2] == label}
            tp += len(g & p)
            fp += len(p - g)
            fn += len(g - p)
        out[label] = _prf(tp, fp, fn)
    return out


def recognizer_metrics(
    predict: Callable[[list[str]], list[list[Any]]], examples: Sequence[NerExample]
) -> dict[str, Any]:
    """`ner_metrics` of an NER's `predict` (texts -> entities with start, end, label) on `examples`."""
    predicted = predict([ex.text for ex in examples])
    return ner_metrics(
        [list(ex.spans) for ex in examples],
        [[(ent.start, ent.end, ent.label) for ent in ents] for ents in predicted],
        NER_LABELS,
    )


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": tp + fn,
    }
