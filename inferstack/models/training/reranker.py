"""Cross-encoder reranker trained here from the MiniLM backbone on man-page pairs (weak labels:
NAME description -> its DESCRIPTION is relevant; the most similar other pages by MiniLM
embedding are hard negatives, plus one random negative)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from inferstack.models.training import manpages
from inferstack.models.training.trainer import TrainConfig, _batches, _finish, _fit, set_seed

RERANK_MAX_LEN = 128
PASSAGE_WORDS = 120
HARD_NEGATIVES = 1


def passage(page: manpages.ManPage) -> str:
    return " ".join(page.description.split()[:PASSAGE_WORDS])


def training_pairs(pages: list[manpages.ManPage], encode: Any, seed: int) -> list[tuple[str, str, float]]:
    """(query, passage, label) triples: one positive, hard and random negatives per page."""
    rng = random.Random(seed)
    passages = [passage(p) for p in pages]
    queries = [p.summary for p in pages]
    p_vec = np.asarray(encode(passages))
    q_vec = np.asarray(encode(queries))
    similarity = q_vec @ p_vec.T
    rows: list[tuple[str, str, float]] = []
    for i, query in enumerate(queries):
        rows.append((query, passages[i], 1.0))
        ranked = [j for j in np.argsort(-similarity[i]) if j != i]
        for j in ranked[:HARD_NEGATIVES]:
            rows.append((query, passages[j], 0.0))
        rows.append((query, passages[rng.choice([j for j in ranked[20:]] or ranked)], 0.0))
    return rows


def train_reranker(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    set_seed(config.seed)
    train_pages, heldout_pages = manpages.split(manpages.load_pages())
    if len(train_pages) < 50:
        raise RuntimeError(f"only {len(train_pages)} usable man pages under {manpages.MAN_ROOT}")
    train_pages = train_pages[: config.train_size]
    encoder = SentenceTransformer(str(backbone), device="cpu")
    rows = training_pairs(train_pages, lambda texts: encoder.encode(texts, batch_size=64), config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(backbone), num_labels=1, problem_type="multi_label_classification"
    )
    features = [
        {**tokenizer(q, p, truncation="longest_first", max_length=RERANK_MAX_LEN), "labels": [label]}
        for q, p, label in rows
    ]
    losses = _fit(model, _batches(features, DataCollatorWithPadding(tokenizer), config.batch_size), config)
    model.config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}
    return _finish(
        "reranker", out, model, tokenizer, config, started,
        train_pages=len(train_pages), heldout_pages=len(heldout_pages), train_pairs=len(rows),
        epoch_losses=losses, max_length=RERANK_MAX_LEN,
        data="man pages under /usr/share/man (man1/5/8): NAME line as query, DESCRIPTION as passage",
    )  # fmt: skip
