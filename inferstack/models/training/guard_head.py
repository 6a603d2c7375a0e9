"""Train the guard's text classifier (benign / injection / jailbreak / toxic): a MiniLM head
fine-tuned here and a lexical model fitted on the same rows (see `models/guard_text.py`).

Data: the generated families of `guard_data` (train split), the hand-written attacks and hard
benign prompts of `data/injection_written.jsonl` and `data/injection_written_2.jsonl` twice
(their calibration split never trains; it fits the head's temperature), and benign man-page
text of many lengths. Inputs are de-obfuscated first, as when served.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding

from inferstack.models import deobfuscate, guard_text
from inferstack.models.deobfuscate import normalize
from inferstack.models.guard_text import LEXICAL_FILE, WINDOW, TextClassifier, lexical_model
from inferstack.models.training import guard_data, intent_data, manpages, written
from inferstack.models.training.guard_data import LABELS, Example
from inferstack.models.training.loop import (
    TrainConfig,
    batches,
    finish,
    fit,
    fresh_head,
    recipe_hash,
    set_seed,
    token_count,
)
from inferstack.models.training.trainer import calibrate_temperature

WRITTEN_TIMES = 2
DOCUMENTS = 200
# Hand-written attack categories that are jailbreaks (a persona or a frame that lifts the
# rules); the other attack categories are injections.
JAILBREAK_CATEGORIES = frozenset({"persona_dan", "roleplay_jailbreak", "hypothetical"})


def written_examples(rows: list[dict[str, Any]]) -> list[Example]:
    def label(row: dict[str, Any]) -> str:
        if row["label"] == "benign":
            return "benign"
        return "jailbreak" if row["category"] in JAILBREAK_CATEGORIES else "injection"

    return [Example(row["text"], label(row)) for row in rows]


def document_rows(seed: int, count: int = DOCUMENTS) -> list[Example]:
    """Benign documents of many lengths: windows of man-page descriptions (training pages).
    Without them every long training text was an attack (pasted documents with an instruction
    inside), and both models learnt length as a sign of injection."""
    rng = random.Random(seed)
    pages = manpages.split(manpages.load_pages())[0]
    picked = rng.sample(pages, min(count, len(pages)))
    return [Example(" ".join(p.description.split()[: rng.randint(30, 150)]), "benign") for p in picked]


def guard_rows(seed: int) -> tuple[list[Example], list[Example]]:
    """(training, calibration) examples, the training ones shuffled."""
    train: list[dict[str, Any]] = []
    calibration: list[dict[str, Any]] = []
    for path in (written.INJECTION, written.INJECTION_SECOND):
        trains, held = written.split(path)
        train += trains
        calibration += held
    rows = guard_data.examples("train") + written_examples(train) * WRITTEN_TIMES + document_rows(seed)
    random.Random(seed).shuffle(rows)
    return rows, written_examples(calibration)


def recipe(config: TrainConfig) -> str:
    # guard_text: its window is where training examples are cut
    parts = [
        guard_data,
        intent_data,
        manpages,
        written.INJECTION,
        written.INJECTION_SECOND,
        deobfuscate,
        guard_text,
        sys.modules[__name__],
    ]
    return recipe_hash("guard", config, [*parts, fresh_head, token_count])


def train_guard(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows, calibration = guard_rows(config.seed)
    rows = rows[: config.train_size]
    tokenizer, model, label_id = fresh_head(AutoModelForSequenceClassification, backbone, list(LABELS))
    features = [
        {**tokenizer(normalize(e.text)[0], truncation=True, max_length=WINDOW), "labels": label_id[e.label]}
        for e in rows
    ]
    losses = fit(
        model, batches(features, DataCollatorWithPadding(tokenizer), config.batch_size, token_count), config
    )
    classifier = TextClassifier.from_model(tokenizer, model)
    classifier.lexical = lexical_model().fit([normalize(e.text)[0] for e in rows], [e.label for e in rows])
    calibrated = calibrate_temperature(
        classifier.head_probabilities([normalize(e.text)[0] for e in calibration]),
        np.array([label_id[e.label] for e in calibration]),
    )
    classifier.temperature = calibrated["temperature"]
    return finish(
        "guard", out, model, tokenizer, config, started, recipe(config),
        extra=lambda folder: joblib.dump(classifier.lexical, folder / LEXICAL_FILE),
        labels=list(LABELS), train_examples=len(rows), epoch_losses=losses,
        heldout_metrics=evaluate(classifier, guard_data.examples("heldout")),
        calibration_metrics=evaluate(classifier, calibration),
        window=WINDOW, temperature=calibrated["temperature"],
        calibration={"examples": len(calibration), **calibrated},
        data=f"generated families (guard_data) + hand-written prompts (data/injection_written*.jsonl) "
             f"{WRITTEN_TIMES} times + {DOCUMENTS} benign man-page windows",
    )  # fmt: skip


def evaluate(classifier: TextClassifier, examples: list[Example], threshold: float = 0.5) -> dict[str, float]:
    """Attack recall (injection or jailbreak flagged as either) and the false-positive rate on
    benign text; toxic recall likewise."""
    scores = dict(
        zip((e.text for e in examples), classifier.score_many([e.text for e in examples]), strict=True)
    )
    benign = [e for e in examples if e.label == "benign"]
    attacks = [e for e in examples if e.label in ("injection", "jailbreak")]
    toxic = [e for e in examples if e.label == "toxic"]

    def attack(e: Example) -> bool:
        return scores[e.text].injection + scores[e.text].jailbreak >= threshold

    def is_toxic(e: Example) -> bool:
        return scores[e.text].toxic >= threshold

    return {
        "attack_recall": round(sum(map(attack, attacks)) / max(1, len(attacks)), 4),
        "benign_fpr": round(sum(map(attack, benign)) / max(1, len(benign)), 4),
        "toxic_recall": round(sum(map(is_toxic, toxic)) / max(1, len(toxic)), 4),
        "toxic_fpr": round(sum(map(is_toxic, benign)) / max(1, len(benign)), 4),
        "n_attacks": len(attacks),
        "n_benign": len(benign),
        "n_toxic": len(toxic),
    }
