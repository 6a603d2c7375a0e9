"""`inferstack models pull` and `inferstack train`: the model artefacts in the cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from inferstack.cli.common import EXIT_CONFIG, batch_settings
from inferstack.config import Settings
from inferstack.config.cache import CacheLayout


def pull_all(settings: Settings, names: Sequence[str] | None) -> int:
    from inferstack.models.materialize import MaterializeError, pull

    cache = CacheLayout(settings.cache_dir).ensure()
    wanted = [m for m in settings.models if m.source is not None and (not names or m.name in names)]
    unknown = sorted(set(names or ()) - {m.name for m in settings.models})
    if unknown:
        print(
            f"error: unknown model(s) {unknown}; configured: {[m.name for m in settings.models]}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    for spec in wanted:
        try:
            result = pull(spec, cache.models)
        except MaterializeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        state = "converted" if result.converted else "cached, verified"
        print(f"{spec.name}: {state} in {result.seconds:.1f}s -> {result.path}", flush=True)
    return 0


def cmd_models_pull(args: argparse.Namespace) -> int:
    return pull_all(batch_settings(args), args.names)


def cmd_train(args: argparse.Namespace) -> int:
    settings = batch_settings(args)
    from inferstack.models.training.artefacts import ALL_KINDS

    unknown = sorted(set(args.kinds) - set(ALL_KINDS))
    if unknown:
        print(f"error: unknown kind(s) {unknown}; choose from {', '.join(ALL_KINDS)}", file=sys.stderr)
        return EXIT_CONFIG
    return train(settings, args.kinds or needed_kinds(settings), force=args.force)


def needed_kinds(settings: Settings) -> tuple[str, ...]:
    kinds = ("intent", "ner") if settings.classifier.enabled else ()
    if settings.guard.enabled:
        kinds = (*kinds, "guard")
    if settings.retrieval.enabled and settings.retrieval.rerank:
        kinds = (*kinds, "reranker")
    return kinds


def train(settings: Settings, kinds: Sequence[str], *, force: bool = False) -> int:
    from inferstack.models.training.artefacts import ensure_trained

    for result in ensure_trained(CacheLayout(settings.cache_dir).ensure(), kinds, force=force):
        metrics = result.card.get("heldout_metrics", {})
        if result.kind == "reranker":
            summary = f"{result.card['train_groups']} man-page query groups"
        elif result.kind == "guard":
            summary = (f"held-out attack recall {metrics['attack_recall']:.3f} at false positives "
                       f"{metrics['benign_fpr']:.3f}")  # fmt: skip
        elif result.kind == "intent":
            summary = f"held-out accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
        else:
            summary = ", ".join(f"{label} F1 {m['f1']:.3f}" for label, m in metrics.items())
        state = f"trained in {result.card['train_seconds']:.0f}s" if result.trained else "cached"
        print(f"{result.kind}: {state}; {summary}", flush=True)
    return 0
