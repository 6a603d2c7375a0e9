"""Cross-encoder reranker trained here from the MiniLM backbone on man-page pairs.

Weak labels: a page's NAME description is the query, a window of its DESCRIPTION the relevant
passage. Each query comes in a group with the two most similar other pages by MiniLM embedding
(hard negatives; near-copies of the positive are skipped, they are not negatives) and one random
page, and the loss is a softmax over the group: the model learns to order passages, which is all
a reranker is asked to do. A pointwise loss over the same pairs did not move off the label prior
in the ten-minute budget (loss 0.64 after one epoch); a 3-layer, 64-token variant (4x cheaper to
run) learned but reranked far worse (nDCG@10 0.68 alone against 0.87).
"""

from __future__ import annotations

import itertools
import random
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from inferstack.models.training import manpages
from inferstack.models.training.trainer import TrainConfig, _batches, _finish, _fit, set_seed
from inferstack.retrieval.chunker import jaccard, word_set

RERANK_MAX_LEN = 96  # 128 scored the same on held-out pages and costs 40 % more per rerank
PASSAGE_WORDS = 70
HARD_NEGATIVES = 2
GROUP = 2 + HARD_NEGATIVES  # positive, hard negatives, one random page
NEAR_COPY = 0.5  # word-set Jaccard above which another page's passage counts as the same text


def passage(page: manpages.ManPage, start: int = 0) -> str:
    return " ".join(page.description.split()[start : start + PASSAGE_WORDS])


def training_groups(pages: list[manpages.ManPage], encode: Any, seed: int) -> list[list[tuple[str, str]]]:
    """Per page: [(query, positive), (query, hard negative) x2, (query, random negative)]. The
    positive is the opening window two times in three, else a later window (later chunks of a
    page are relevant too)."""
    rng = random.Random(seed)
    passages = [passage(p) for p in pages]
    words = [word_set(p) for p in passages]
    queries = [p.summary for p in pages]
    similarity = np.asarray(encode(queries)) @ np.asarray(encode(passages)).T

    def negative(i: int, j: int) -> bool:
        return j != i and queries[j] != queries[i] and jaccard(words[i], words[j]) <= NEAR_COPY

    groups = []
    for i, query in enumerate(queries):
        ranked = (int(j) for j in np.argsort(-similarity[i]))
        hard = list(itertools.islice((j for j in ranked if negative(i, j)), HARD_NEGATIVES))
        rand = rng.choice([j for j in range(len(pages)) if j not in hard])
        while not negative(i, rand):
            rand = rng.choice([j for j in range(len(pages)) if j not in hard])
        length = len(pages[i].description.split())
        start = 0 if rng.random() < 2 / 3 else rng.randrange(0, max(1, length - PASSAGE_WORDS))
        positive = passage(pages[i], start)
        groups.append([(query, positive), *((query, passages[j]) for j in (*hard, rand))])
    return groups


class _GroupSoftmax(torch.nn.Module):
    """Wraps the cross-encoder: logits of each group of GROUP pairs, cross-entropy toward the first."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: torch.Tensor) -> SimpleNamespace:
        logits = self.model(**batch).logits.view(-1, GROUP)
        target = torch.zeros(logits.shape[0], dtype=torch.long)
        return SimpleNamespace(loss=torch.nn.functional.cross_entropy(logits, target))


def train_reranker(backbone: Path, out: Path, config: TrainConfig) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    set_seed(config.seed)
    train_pages, heldout_pages = manpages.split(manpages.load_pages())
    if len(train_pages) < 50:
        raise RuntimeError(f"only {len(train_pages)} usable man pages under {manpages.MAN_ROOT}")
    train_pages = train_pages[: config.train_size]
    encoder = SentenceTransformer(str(backbone), device="cpu")
    groups = training_groups(train_pages, lambda texts: encoder.encode(texts, batch_size=64), config.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(backbone))
    model = AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=1)
    features = [
        [tokenizer(q, p, truncation="longest_first", max_length=RERANK_MAX_LEN) for q, p in group]
        for group in groups
    ]
    pad = DataCollatorWithPadding(tokenizer)
    groups_per_batch = max(1, config.batch_size // GROUP)
    batches = _batches(features, lambda gs: pad([pair for g in gs for pair in g]), groups_per_batch)
    losses = _fit(_GroupSoftmax(model), batches, config)
    return _finish(
        "reranker", out, model, tokenizer, config, started,
        train_pages=len(train_pages), heldout_pages=len(heldout_pages), train_groups=len(groups),
        group=GROUP, epoch_losses=losses, max_length=RERANK_MAX_LEN,
        loss="softmax over (positive, 2 hard negatives, 1 random negative)",
        data="man pages under /usr/share/man (man1/5/8): NAME line as query, DESCRIPTION as passage",
    )  # fmt: skip
