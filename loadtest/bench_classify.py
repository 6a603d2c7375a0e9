"""Intent / NER latency and batched throughput on this CPU (the trained artefacts in the cache).

    python -m loadtest.bench_classify [--readme docs/models.md] [--out reports/bench-classify.json]

Single-message latency uses a 30-word message, one call at a time, as the gateway does per
request. Throughput uses batches of 64 over 1024 held-out-style messages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.classifier import EntityRecognizer, IntentClassifier
from inferstack.models.training import intent_data
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent
MESSAGE = (
    "Hi, I'm Maria Gonzalez from Madrid. I was charged twice for my subscription last month and "
    "nobody answered my emails, can you please check my account and refund the payment?"
)  # 30 words


def latency_ms(fn: Callable[[], object], n: int = 200) -> dict[str, float]:
    for _ in range(20):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e3)
    samples.sort()
    return {"p50_ms": statistics.median(samples), "p99_ms": samples[int(0.99 * (len(samples) - 1))]}


def throughput(fn: Callable[[list[str]], object], texts: list[str], batch: int = 64) -> float:
    fn(texts[:batch])
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-classify.json")
    args = parser.parse_args()
    assert len(MESSAGE.split()) == 30
    cache = CacheLayout(Settings().cache_dir)
    intent = IntentClassifier.load(cache.trained("intent"))
    ner = EntityRecognizer.load(cache.trained("ner"))
    texts = [t for t, _ in intent_data.heldout_set(per_label=114)][:1024]
    results = {
        "machine": f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "intent_single": latency_ms(lambda: intent.predict([MESSAGE])),
        "ner_single": latency_ms(lambda: ner.predict([MESSAGE])),
        "intent_batched_msgs_per_s": throughput(intent.predict, texts),
        "ner_batched_msgs_per_s": throughput(ner.predict, texts),
    }
    table = "\n".join(
        [
            f"Machine: {results['machine']}. Command: `make bench` (`loadtest/bench_classify.py`).",
            "",
            "| measurement | result | target |",
            "|---|---|---|",
            f"| intent, one 30-word message | p50 {results['intent_single']['p50_ms']:.1f} ms, "
            f"p99 {results['intent_single']['p99_ms']:.1f} ms | p50 ≤ 5 ms |",
            f"| NER, one 30-word message | p50 {results['ner_single']['p50_ms']:.1f} ms, "
            f"p99 {results['ner_single']['p99_ms']:.1f} ms | p50 ≤ 8 ms |",
            f"| intent, batches of 64 | {results['intent_batched_msgs_per_s']:.0f} msgs/s | ≥ 300 msgs/s |",
            f"| NER, batches of 64 | {results['ner_batched_msgs_per_s']:.0f} msgs/s | ≥ 300 msgs/s |",
        ]
    )
    publish(results, args.out, table, args.readme, "classify")


if __name__ == "__main__":
    main()
