"""Threshold calibration the RouteLLM way, and its evaluation on held-out golden prompts.

The threshold is the (1 - strong_share) quantile of the scorer's scores on the calibration half
of the golden set: that share of traffic is expected to need the strong tier. The evaluation
half then says what share went to the cheap tier, what share landed on a tier that meets its
label ("quality kept") and the cost saved against sending everything to the strong tier."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from inferstack.router.quality import PromptFeatures, QualityScorer
from inferstack.router.service import CALIBRATION_FILE

FeatureFn = Callable[[str], PromptFeatures]


@dataclass(frozen=True)
class Evaluation:
    prompts: int
    cheap_share: float
    quality_kept: float  # share routed to a tier that meets its label
    strong_recall: float  # share of "needs strong" prompts sent to the strong tier
    cost_saved: float | None  # vs always-strong, from the per-token prices given


def calibrate_threshold(scores: Sequence[float], strong_share: float) -> float:
    if not 0 < strong_share < 1:
        raise ValueError("strong_share must be between 0 and 1")
    return float(np.quantile(np.asarray(scores), 1 - strong_share))


def evaluate(
    scores: Sequence[float],
    labels: Sequence[bool],
    threshold: float,
    cheap_over_strong_price: float | None,
) -> Evaluation:
    """`cheap_over_strong_price`: cheap tier's per-token price / strong tier's (None: unknown)."""
    strong = np.asarray(scores) >= threshold
    needs = np.asarray(labels, dtype=bool)
    cheap_share = float(1 - strong.mean())
    saved = None
    if cheap_over_strong_price is not None:
        saved = cheap_share * (1 - cheap_over_strong_price)
    return Evaluation(
        prompts=len(scores),
        cheap_share=round(cheap_share, 4),
        quality_kept=round(float((strong | ~needs).mean()), 4),
        strong_recall=round(float(strong[needs].mean()) if needs.any() else 1.0, 4),
        cost_saved=None if saved is None else round(saved, 4),
    )


def run_calibration(
    scorer_name: str,
    scorer: QualityScorer,
    features_of: FeatureFn,
    calibration: Sequence[tuple[str, bool]],
    evaluation: Sequence[tuple[str, bool]],
    strong_share: float,
    cheap_over_strong_price: float | None,
) -> dict[str, object]:
    cal_scores = [scorer.score(features_of(text)) for text, _ in calibration]
    threshold = calibrate_threshold(cal_scores, strong_share)
    eval_scores = [scorer.score(features_of(text)) for text, _ in evaluation]
    result = evaluate(eval_scores, [label for _, label in evaluation], threshold, cheap_over_strong_price)
    return {
        "scorer": scorer_name,
        "threshold": round(threshold, 6),
        "strong_share_target": strong_share,
        "calibration_prompts": len(calibration),
        "evaluation": asdict(result),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def save(result: dict[str, object], router_dir: Path) -> Path:
    router_dir.mkdir(parents=True, exist_ok=True)
    path = router_dir / CALIBRATION_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(path)
    return path
