"""Cross-encoder reranker trained here from the MiniLM backbone on man-page pairs.

Weak labels: a page's NAME description is the query, a window of its DESCRIPTION the relevant
passage. Each query comes in a group with the two most similar other pages by MiniLM embedding
(hard negatives; near-copies of the positive are skipped, they are not negatives) and one random
page, and the loss is a softmax over the group: the model learns to order passages, which is all
a reranker is asked to do. A pointwise loss over the same pairs did not move off the label prior
in the ten-minute budget (loss 0.64 after one epoch).

What is served is a student distilled from that 6-layer, 96-token teacher: its first four layers
and head, trained on the same groups to reproduce the teacher's order (KL to the teacher's group
softmax, plus the positive's cross-entropy) on pairs cut at 64 tokens. It costs 45 % of the
teacher per rerank. Trained directly on the labels, a 3-layer, 64-token model reranked far
worse (nDCG@10 0.68 alone against the teacher's 0.87); distilled, the 4-layer one stays close.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from inferstack.models.training import manpages
from inferstack.models.training.loop import TrainConfig, batches, finish, fit, recipe_hash, set_seed
from inferstack.text import jaccard, word_set

RERANK_MAX_LEN = 96  # teacher; 128 scored the same on held-out pages and costs 40 % more per rerank
STUDENT_MAX_LEN = 64
STUDENT_LAYERS = 4
PASSAGE_WORDS = 70
HARD_NEGATIVES = 2
GROUP = 2 + HARD_NEGATIVES  # positive, hard negatives, one random page
# The student learns the teacher's order among the positive and the hard negatives: served
# candidates are all plausible, and the random page (the teacher gives it ~0) cost a quarter of
# the student's time for no signal; that kept the whole recipe inside ten minutes.
STUDENT_GROUP = 1 + HARD_NEGATIVES
Groups = list[list[tuple[str, str]]]  # per query: (query, passage) pairs, the positive first
NEAR_COPY = 0.5  # word-set Jaccard above which another page's passage counts as the same text


def passage(page: manpages.ManPage, start: int = 0) -> str:
    return " ".join(page.description.split()[start : start + PASSAGE_WORDS])


def training_groups(pages: list[manpages.ManPage], encode: Any, seed: int) -> Groups:
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
    """Wraps the cross-encoder: logits of each group of `size` pairs, cross-entropy toward the
    first; with the teacher's logits of the same groups, also the KL divergence to them."""

    def __init__(self, model: Any, size: int) -> None:
        super().__init__()
        self.model = model
        self.size = size

    def forward(self, teacher: torch.Tensor | None = None, **batch: torch.Tensor) -> SimpleNamespace:
        logits = self.model(**batch).logits.view(-1, self.size)
        target = torch.zeros(logits.shape[0], dtype=torch.long)
        loss = torch.nn.functional.cross_entropy(logits, target)
        if teacher is not None:
            soft = torch.softmax(teacher, dim=-1)
            kl = torch.nn.functional.kl_div(torch.log_softmax(logits, dim=-1), soft, reduction="batchmean")
            loss = kl + 0.5 * loss
        return SimpleNamespace(loss=loss)


def _pairs(tokenizer: Any, groups: Groups, max_length: int) -> list[list[Any]]:
    return [[tokenizer(q, p, truncation="longest_first", max_length=max_length) for q, p in group]
            for group in groups]  # fmt: skip


@torch.inference_mode()
def _group_logits(model: Any, features: list[list[Any]], pad: Any) -> torch.Tensor:
    model.eval()
    size = len(features[0])
    out = [model(**pad([pair for g in features[i : i + 16] for pair in g])).logits.view(-1, size)
           for i in range(0, len(features), 16)]  # fmt: skip
    return torch.cat(out)


def _distil(
    teacher: Any, tokenizer: Any, groups: Groups, features: list[list[Any]], config: TrainConfig
) -> tuple[Any, list[float]]:
    """The teacher's first STUDENT_LAYERS layers and head, trained toward its group scores."""
    pad = DataCollatorWithPadding(tokenizer)
    groups = [group[:STUDENT_GROUP] for group in groups]
    targets = _group_logits(teacher, [group[:STUDENT_GROUP] for group in features], pad)
    student = copy.deepcopy(teacher)
    student.bert.encoder.layer = torch.nn.ModuleList(list(student.bert.encoder.layer)[:STUDENT_LAYERS])
    student.config.num_hidden_layers = STUDENT_LAYERS
    student.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    pairs = _pairs(tokenizer, groups, STUDENT_MAX_LEN)

    def collate(items: list[tuple[list[Any], torch.Tensor]]) -> dict[str, Any]:
        return {**pad([pair for g, _ in items for pair in g]), "teacher": torch.stack([t for _, t in items])}

    student_batches = batches(
        list(zip(pairs, targets, strict=True)), collate, max(1, config.batch_size // GROUP)
    )
    # Two passes at half the teacher's rate: one pass left the student below plain hybrid search.
    losses = fit(
        _GroupSoftmax(student, STUDENT_GROUP), student_batches, dataclasses.replace(config, epochs=2, lr=1e-4)
    )
    return student, losses


def recipe(config: TrainConfig) -> str:
    """The recipe hash of the reranker: the man-page reader and this module."""
    return recipe_hash("reranker", config, [manpages, sys.modules[__name__]])


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
    features = _pairs(tokenizer, groups, RERANK_MAX_LEN)
    pad = DataCollatorWithPadding(tokenizer)
    groups_per_batch = max(1, config.batch_size // GROUP)
    teacher_batches = batches(features, lambda gs: pad([pair for g in gs for pair in g]), groups_per_batch)
    teacher_losses = fit(_GroupSoftmax(model, GROUP), teacher_batches, config)
    student, student_losses = _distil(model, tokenizer, groups, features, config)
    return finish(
        "reranker", out, student, tokenizer, config, started, recipe(config),
        train_pages=len(train_pages), heldout_pages=len(heldout_pages), train_groups=len(groups),
        group=GROUP, teacher_epoch_losses=teacher_losses, epoch_losses=student_losses,
        max_length=STUDENT_MAX_LEN, layers=STUDENT_LAYERS, teacher_max_length=RERANK_MAX_LEN,
        loss="softmax over (positive, 2 hard negatives, 1 random negative); student: KL to the teacher "
        "over (positive, 2 hard negatives)",
        data="man pages under /usr/share/man (man1/5/8): NAME line as query, DESCRIPTION as passage",
    )  # fmt: skip
