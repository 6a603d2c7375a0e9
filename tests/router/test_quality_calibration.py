from __future__ import annotations

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.classifier import IntentClassifier
from inferstack.models.training.artefacts import ensure_trained
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stages.route import prompt_features
from inferstack.router import calibrate, golden
from inferstack.router.quality import HeuristicScorer, PromptFeatures
from tests.router.stubs import features

SCORER = HeuristicScorer()


@pytest.mark.parametrize(
    ("weaker", "stronger"),
    [
        (
            features("hi", intent="greeting", intent_score=0.99),
            features("hi", intent="coding", intent_score=0.99),
        ),
        (features("what is it"), features("what is the derivative of x^2 + 3x")),
        (features("fix it"), features("fix this: def f(x): return x[0]")),
        (features("short", prompt_tokens=10), features("short", prompt_tokens=900)),
        (features("why?"), features("why? how? when?")),
        (features("tell me about it"), features("compare the trade-offs step by step")),
    ],
)
def test_score_rises_with_each_signal(weaker: PromptFeatures, stronger: PromptFeatures) -> None:
    assert SCORER.score(weaker) < SCORER.score(stronger)


def test_score_stays_in_unit_interval() -> None:
    text = "prove step by step: def f(x): return x**2 + 1 = 0 ? ? ? " * 50
    assert SCORER.score(features(text, intent="coding", intent_score=1.0, prompt_tokens=10**6)) == 1.0
    assert SCORER.score(features("hi", intent="greeting", intent_score=1.0, prompt_tokens=0)) >= 0.0


def test_threshold_is_the_quantile_for_the_strong_share() -> None:
    scores = [i / 100 for i in range(101)]
    assert calibrate.calibrate_threshold(scores, 0.25) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        calibrate.calibrate_threshold(scores, 1.0)


def test_evaluation_counts_adequate_routes_and_savings() -> None:
    scores, labels = [0.1, 0.2, 0.9, 0.3], [False, True, True, False]
    result = calibrate.evaluate(scores, labels, 0.5, cheap_over_strong_price=0.1)
    assert result.cheap_share == 0.75
    assert result.quality_kept == 0.75  # the 0.2 prompt needed the strong tier but went cheap
    assert result.strong_recall == 0.5
    assert result.cost_saved == pytest.approx(0.75 * 0.9)
    assert calibrate.evaluate(scores, labels, 0.5, None).cost_saved is None


def test_golden_split_is_disjoint_and_balanced() -> None:
    calibration, evaluation = golden.split()
    assert len(calibration) + len(evaluation) == len(golden.GOLDEN)
    assert not {t for t, _ in calibration} & {t for t, _ in evaluation}
    share = [sum(label for _, label in part) / len(part) for part in (calibration, evaluation)]
    assert abs(share[0] - share[1]) < 0.05


def test_calibrated_router_meets_the_targets_on_held_out_golden_prompts() -> None:
    """The routing targets: >= 60 % of traffic on the cheap tier with >= 95 % on an adequate tier, at the
    threshold calibrated on the other half (real intent classifier from the cache)."""
    layout = CacheLayout(Settings().cache_dir).ensure()
    ensure_trained(layout, ("intent",))
    classifier = IntentClassifier.load(layout.trained("intent"))

    def features_of(text: str) -> PromptFeatures:
        request = ChatCompletionRequest.model_validate(
            {"model": "auto", "messages": [{"role": "user", "content": text}]}
        )
        return prompt_features(request, classifier.predict([text])[0], 256)

    calibration, evaluation = golden.split()
    result = calibrate.run_calibration("heuristic", SCORER, features_of, calibration, evaluation, 0.35, 0.05)
    measured = result["evaluation"]
    assert isinstance(measured, dict)
    assert measured["cheap_share"] >= 0.60, measured
    assert measured["quality_kept"] >= 0.95, measured
