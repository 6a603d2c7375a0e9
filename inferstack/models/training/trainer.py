"""Fine-tune the shipped MiniLM (BERT) backbone for intent (sequence) and NER (token) labels.

Plain torch loop (training.loop): seeded, deterministic on CPU, a few minutes on 2 cores.
"""

from __future__ import annotations

import random
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from inferstack.models.classifier import capital_flags
from inferstack.models.training import intent_data, ner_data, ner_templates, written
from inferstack.models.training.loop import (
    MAX_LEN,
    TrainConfig,
    batches,
    finish,
    fit,
    fresh_head,
    recipe_hash,
    set_seed,
    token_count,
)
from inferstack.models.training.metrics import intent_metrics, recognizer_metrics
from inferstack.text import occurrences


def recipe(kind: str, config: TrainConfig) -> str:
    """The recipe hash of the intent or NER artefact (what its data and training depend on)."""
    if kind == "intent":
        data: list[Any] = [intent_data, written.INTENT, intent_rows, calibrate_temperature]
    else:
        data = [ner_data, ner_templates, written.NER, ner_rows, _written_ner, _token_labels, capital_flags]
    return recipe_hash(kind, config, [*data, fresh_head, token_count])


def intent_rows(seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(training, calibration) rows: the generated templates plus the hand-written messages twice
    (they are fewer and closer to real chat), shuffled; the written calibration split apart."""
    train, calibration = written.split(written.INTENT)
    rows = intent_data.training_set() + [(r["text"], r["label"]) for r in train] * 2
    random.Random(seed).shuffle(rows)
    return rows, [(r["text"], r["label"]) for r in calibration]


def calibrate_temperature(probs: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """The softmax temperature with the lowest log-loss on held-out rows, and the expected
    calibration error (10 bins) before and after it."""

    def scaled(t: float) -> np.ndarray:
        z = np.log(np.clip(probs, 1e-12, 1)) / t
        e = np.exp(z - z.max(-1, keepdims=True))
        out: np.ndarray = e / e.sum(-1, keepdims=True)
        return out

    def nll(t: float) -> float:
        return float(-np.log(scaled(t)[np.arange(len(gold)), gold] + 1e-12).mean())

    def ece(p: np.ndarray) -> float:
        confidence, right = p.max(-1), p.argmax(-1) == gold
        bins = np.minimum((confidence * 10).astype(int), 9)
        return float(sum(abs(confidence[bins == b].mean() - right[bins == b].mean()) * (bins == b).mean()
                         for b in range(10) if (bins == b).any()))  # fmt: skip

    temperature = min((round(0.5 + 0.05 * i, 2) for i in range(71)), key=nll)
    return {"temperature": round(float(temperature), 2), "ece_before": round(ece(probs), 4),
            "ece_after": round(ece(scaled(temperature)), 4),
            "accuracy": round(float((probs.argmax(-1) == gold).mean()), 4)}  # fmt: skip


def train_intent(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows, calibration = intent_rows(config.seed)
    rows = rows[: config.train_size]
    heldout = intent_data.heldout_set()
    labels = list(intent_data.INTENT_LABELS)
    tokenizer, model, label_id = fresh_head(AutoModelForSequenceClassification, backbone, labels)
    features = [
        {**tokenizer(text, truncation=True, max_length=MAX_LEN), "labels": label_id[label]}
        for text, label in rows
    ]
    collate = DataCollatorWithPadding(tokenizer)
    losses = fit(model, batches(features, collate, config.batch_size, token_count), config)
    from inferstack.models.classifier import IntentClassifier

    classifier = IntentClassifier.from_model(tokenizer, model)
    calibrated = calibrate_temperature(
        classifier.probabilities([t for t, _ in calibration]), np.array([label_id[g] for _, g in calibration])
    )
    classifier.temperature = calibrated["temperature"]
    predicted = [p.label for p in classifier.predict([t for t, _ in heldout])]
    return finish(
        "intent", out, model, tokenizer, config, started, recipe("intent", config),
        labels=labels, train_examples=len(rows), heldout_examples=len(heldout), epoch_losses=losses,
        heldout_metrics=intent_metrics([label for _, label in heldout], predicted, labels),
        calibration={"examples": len(calibration), **calibrated},
        temperature=calibrated["temperature"],
        data="generated templates (intent_data) + hand-written messages (data/intent_written.jsonl) twice",
    )  # fmt: skip


def _token_labels(
    tokenizer: PreTrainedTokenizerBase, example: ner_data.NerExample, label_id: dict[str, int]
) -> dict[str, Any]:
    """Tokenise one sentence; each word piece gets B-/I- of the span it lies in, else O."""
    enc = tokenizer(example.text, truncation=True, max_length=MAX_LEN, return_offsets_mapping=True)
    tags, offsets = [], enc.pop("offset_mapping")
    for start, end in offsets:
        if start == end:  # special tokens
            tags.append(-100)
            continue
        tag = "O"
        for s, e, label in example.spans:
            if start >= s and end <= e:
                tag = ("B-" if start == s else "I-") + label
                break
        tags.append(label_id[tag])
    types = capital_flags(example.text, offsets, enc.word_ids())
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "token_type_ids": types,
            "labels": tags}  # fmt: skip


def _written_ner(rows: list[dict[str, Any]]) -> list[ner_data.NerExample]:
    """Hand-written sentences as NER examples: every occurrence of each listed value is a span."""
    out = []
    for row in rows:
        spans = {(s, e, entity["label"]) for entity in row["entities"]
                 for s, e in occurrences(row["text"], entity["value"])}  # fmt: skip
        # A value found inside a longer one ("Fashola" in "Ayodele Fashola") is part of it.
        kept = [a for a in spans if not any(b != a and b[0] <= a[0] and a[1] <= b[1] for b in spans)]
        out.append(ner_data.NerExample(row["text"], tuple(sorted(kept))))
    return out


def ner_rows(seed: int) -> tuple[list[ner_data.NerExample], list[ner_data.NerExample]]:
    """(training, calibration) examples: the generated sentences plus the hand-written ones three
    times (a few hundred, with tech names that are not places), shuffled."""
    train, calibration = written.split(written.NER)
    rows = ner_data.training_set() + _written_ner(train) * 3
    random.Random(seed).shuffle(rows)
    return rows, _written_ner(calibration)


def ner_tags() -> list[str]:
    return ["O"] + [f"{p}-{label}" for label in ner_data.NER_LABELS for p in ("B", "I")]


def train_ner(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows, written_heldout = ner_rows(config.seed)
    rows = rows[: config.train_size]
    heldout = ner_data.heldout_set()
    tags = ner_tags()
    tokenizer, model, label_id = fresh_head(AutoModelForTokenClassification, backbone, tags)
    features = [_token_labels(tokenizer, ex, label_id) for ex in rows]
    collate = DataCollatorForTokenClassification(tokenizer)
    losses = fit(model, batches(features, collate, config.batch_size, token_count), config)
    from inferstack.models.classifier import EntityRecognizer

    scores = partial(recognizer_metrics, EntityRecognizer.from_model(tokenizer, model).predict)
    return finish(
        "ner", out, model, tokenizer, config, started, recipe("ner", config),
        labels=tags, train_examples=len(rows), heldout_examples=len(heldout), epoch_losses=losses,
        heldout_metrics=scores(heldout), blind_metrics=scores(ner_data.blind_set()),
        fresh_metrics=scores(ner_data.fresh_set()), written_metrics=scores(written_heldout),
        locales={"train": ner_data.TRAIN_LOCALES, "heldout": ner_data.HELDOUT_LOCALES,
                 "blind": ner_data.BLIND_LOCALES, "fresh": ner_data.FRESH_LOCALES},
        data="generated sentences (ner_data) + hand-written sentences (data/ner_written.jsonl) three times",
        token_type_ids="capital flags: 1 on every piece of a capitalised word, all 0 for text mostly "
                       "in capitals (inferstack.models.classifier.capital_flags)",
    )  # fmt: skip
