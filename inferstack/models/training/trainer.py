"""Fine-tune the shipped MiniLM (BERT) backbone for intent (sequence) and NER (token) labels.

Plain torch loop (training.loop): seeded, deterministic on CPU, a few minutes on 2 cores.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from inferstack.models.classifier import capital_flags
from inferstack.models.training import intent_data, ner_data, ner_templates
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


def recipe(kind: str, config: TrainConfig) -> str:
    """The recipe hash of the intent or NER artefact (what its data and training depend on)."""
    data = [intent_data] if kind == "intent" else [ner_data, ner_templates, _token_labels, capital_flags]
    return recipe_hash(kind, config, [*data, fresh_head, token_count])


def train_intent(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    started = time.perf_counter()
    set_seed(config.seed)
    rows = intent_data.training_set()[: config.train_size]
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
    predicted = [p.label for p in classifier.predict([t for t, _ in heldout])]
    return finish(
        "intent", out, model, tokenizer, config, started, recipe("intent", config),
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
        fresh_metrics=scores(ner_data.fresh_set()),
        locales={"train": ner_data.TRAIN_LOCALES, "heldout": ner_data.HELDOUT_LOCALES,
                 "blind": ner_data.BLIND_LOCALES, "fresh": ner_data.FRESH_LOCALES},
        token_type_ids="capital flags: 1 on every piece of a capitalised word, all 0 for text mostly "
                       "in capitals (inferstack.models.classifier.capital_flags)",
    )  # fmt: skip
