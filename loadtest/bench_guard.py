# ruff: noqa: E501
"""Guard benchmark: input-guard latency on a ~200-token message (BERT NER vs patterns only),
stream output guard cost per chunk, and PII recall/precision on Faker text from locales and
templates the NER never trained on.

    python -m loadtest.bench_guard [--readme docs/guard.md] [--out reports/bench-guard.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.guard import PATTERN_ENTITIES, SECRET, GuardConfig
from inferstack.guard.metrics import GuardMetrics
from inferstack.guard.pii import PiiDetector
from inferstack.guard.service import GuardService
from inferstack.models.classifier import EntityRecognizer
from inferstack.models.guard_text import TextClassifier
from inferstack.models.training.pii_data import pii_set
from loadtest.bench_classify import latency_ms
from loadtest.bench_gateway import pct
from loadtest.report import publish

ROOT = Path(__file__).resolve().parent.parent

MESSAGE = ("Hi, I'm Maria Gonzalez from Madrid. My email is maria.gonzalez@example.com and my phone is "
           "+44 20 7946 0958. " + "Please help me understand the billing statement I received last month; "
           "it has several charges I do not recognize and I want them reversed quickly. " * 5)  # fmt: skip


def pii_quality(detector: PiiDetector, rows: list[tuple[str, list[tuple[str, str]]]]) -> dict[str, object]:
    tp = fn = fp = 0
    missed: dict[str, int] = {}
    for text, gold in rows:
        found = detector.analyze(text, [*PATTERN_ENTITIES, "PERSON", "LOCATION", SECRET], 0.6)
        spans = [(f.start, f.end) for f in found]
        for entity, value in gold:
            s = text.index(value)
            hit = any(a < s + len(value) and b > s for a, b in spans)
            tp, fn = tp + hit, fn + (not hit)
            if not hit:
                missed[entity] = missed.get(entity, 0) + 1
        gold_spans = [(text.index(v), text.index(v) + len(v)) for _, v in gold]
        fp += sum(1 for a, b in spans if not any(a < e and b > s for s, e in gold_spans))
    return {"recall": round(tp / (tp + fn), 3), "precision": round(tp / max(1, tp + fp), 3),
            "entities": tp + fn, "missed": missed}  # fmt: skip


def measure() -> dict[str, object]:
    cache = CacheLayout(Settings().cache_dir)
    cache.apply_to_process()
    scorer = TextClassifier.load(cache.trained("guard"))
    ner = EntityRecognizer.load(cache.trained("ner"))
    rows = pii_set(350)
    results: dict[str, object] = {"machine": f"{os.cpu_count()} cores", "message_words": len(MESSAGE.split())}
    for kind in ("bert", "none"):
        detector = PiiDetector.build(kind, ner, cache.spacy_blank)
        guard = GuardService(GuardConfig(), detector, scorer, GuardMetrics(CollectorRegistry()))
        policy = guard.config.policies["default"]
        results[f"input_guard_ner_{kind}"] = latency_ms(
            partial(guard.scan_sync, MESSAGE, "input", "anonymous")
        )
        results[f"pii_ner_{kind}"] = pii_quality(detector, rows)
        if kind == "none":
            results["text_checks"] = latency_ms(partial(guard._text, MESSAGE, "default", policy))
            stream = guard.output_filter("anonymous", None).stream()
            answer = MESSAGE * 3
            per_chunk = []
            for i in range(0, len(answer), 4):
                t = time.perf_counter()
                stream.feed(answer[i : i + 4])
                per_chunk.append((time.perf_counter() - t) * 1000)
            results["stream_chunk"] = {"p50_ms": statistics.median(per_chunk), "p99_ms": pct(per_chunk, 0.99)}
        guard.close()
    return results


def table(r: dict[str, Any]) -> str:
    full, patterns = r["input_guard_ner_bert"], r["input_guard_ner_none"]
    text, chunk = r["text_checks"], r["stream_chunk"]
    pii, pii_patterns = r["pii_ner_bert"], r["pii_ner_none"]
    return "\n".join([
        f"Machine: {r['machine']}. Command: `make bench` (`loadtest/bench_guard.py`); 200 scans each; "
        f"PII quality on 350 Faker messages (11 locales, templates the NER never trained on, {pii['entities']} entities; a value counts as found when a finding overlaps it).",
        "",
        "| measurement | result | target |",
        "|---|---|---|",
        f"| full input guard (PII with BERT NER + injection + toxicity), {r['message_words']}-word message | p50 {full['p50_ms']:.1f} ms, p99 {full['p99_ms']:.1f} ms | p50 ≤ 15 ms, p99 ≤ 40 ms |",
        f"| input guard, pattern PII only (`guard.ner: none`) | p50 {patterns['p50_ms']:.1f} ms, p99 {patterns['p99_ms']:.1f} ms | — |",
        f"| injection + toxicity checks (classifier + Guardrails) | p50 {text['p50_ms']:.1f} ms | — |",
        f"| stream output guard, per 4-char chunk | p50 {chunk['p50_ms']:.2f} ms, p99 {chunk['p99_ms']:.2f} ms | p50 ≤ 1 ms |",
        f"| PII recall / precision, BERT NER | {pii['recall']:.3f} / {pii['precision']:.3f} (missed: {pii['missed']}) | ≥ 0.95 / ≥ 0.90 |",
        f"| PII recall / precision, patterns only | {pii_patterns['recall']:.3f} / {pii_patterns['precision']:.3f} | — |",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench-guard.json")
    args = parser.parse_args()
    results = measure()
    publish(results, args.out, table(results), args.readme, "guard")


if __name__ == "__main__":
    main()
