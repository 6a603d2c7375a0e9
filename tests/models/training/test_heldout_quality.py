"""The full models (trained by `make` setup into the cache) against the issue's targets on the
held-out split, which comes from a different template family and partly different locales, and
the NER on two more held-out sets that are scored only, never read for errors (blind, fresh).
Predictions are recomputed here from the saved artefacts, not read from the model card.

The NER's held-out PERSON target (0.90) is met since the hand-written training sentences
joined the recipe (0.914, int8).
"""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.training import intent_data, ner_data
from inferstack.models.training.artefacts import ensure_trained
from inferstack.models.training.metrics import intent_metrics, recognizer_metrics


@pytest.fixture(scope="module")
def cache() -> CacheLayout:
    layout = CacheLayout(Settings().cache_dir).ensure()
    ensure_trained(layout)  # no-op when `make` already trained them
    return layout


@pytest.fixture(scope="module", params=["batched", "one_by_one"])
def intent_scores(cache: CacheLayout, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Scored in batches of 64 (the throughput path) and one message per call, as /v1/classify
    and the chat path serve it: int8 activations are quantised per batch, so the two may differ."""
    heldout = intent_data.heldout_set()
    classifier = IntentClassifier.load(cache.trained("intent"))
    texts = [t for t, _ in heldout]
    if request.param == "batched":
        predicted = [p.label for p in classifier.predict(texts)]
    else:
        predicted = [classifier.predict([text])[0].label for text in texts]
    return intent_metrics([label for _, label in heldout], predicted, intent_data.INTENT_LABELS)


@pytest.fixture(scope="module")
def recognizer(cache: CacheLayout) -> EntityRecognizer:
    return EntityRecognizer.load(cache.trained("ner"))  # once for both held-out sets


@pytest.fixture(scope="module")
def ner_scores(recognizer: EntityRecognizer) -> dict[str, Any]:
    return recognizer_metrics(recognizer.predict, ner_data.heldout_set())


def test_intent_accuracy_and_macro_f1(intent_scores: dict[str, Any]) -> None:
    assert intent_scores["accuracy"] >= 0.95, intent_scores
    assert intent_scores["macro_f1"] >= 0.93, intent_scores


def test_intent_unsafe_recall(intent_scores: dict[str, Any]) -> None:
    assert intent_scores["per_label"]["unsafe_request"]["recall"] >= 0.97, intent_scores


def test_ner_location_f1(ner_scores: dict[str, Any]) -> None:
    assert ner_scores["LOCATION"]["f1"] >= 0.90, ner_scores


def test_ner_person_f1(ner_scores: dict[str, Any]) -> None:
    assert ner_scores["PERSON"]["f1"] >= 0.90, ner_scores


def test_ner_on_the_blind_set(recognizer: EntityRecognizer) -> None:
    """The second held-out set, never read for errors: floors a little under what it measures
    (PERSON 0.915, LOCATION 0.761), so a recipe that fits the first set at its expense fails."""
    scores = recognizer_metrics(recognizer.predict, ner_data.blind_set())
    assert scores["PERSON"]["f1"] >= 0.88 and scores["LOCATION"]["f1"] >= 0.72, scores


def test_ner_on_the_fresh_set(recognizer: EntityRecognizer) -> None:
    """The third set, written before session 9's experiments and scored only (PERSON 0.917,
    LOCATION 0.912)."""
    scores = recognizer_metrics(recognizer.predict, ner_data.fresh_set())
    assert scores["PERSON"]["f1"] >= 0.88 and scores["LOCATION"]["f1"] >= 0.87, scores


def test_ner_reads_text_in_capitals_like_lower_case(recognizer: EntityRecognizer) -> None:
    """The blind set written in capitals throughout: capitals mark no names there (PERSON F1
    0.912, as in its lower-case form; 0.860 when they were read as names)."""
    rows = [
        ner_data.NerExample(ex.text.upper(), ex.spans)
        for ex in ner_data.blind_set()
        if len(ex.text.upper()) == len(ex.text)  # else the spans no longer fit ("ß" -> "SS")
    ]
    assert recognizer_metrics(recognizer.predict, rows)["PERSON"]["f1"] >= 0.88
