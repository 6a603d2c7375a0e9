# ruff: noqa: E501
"""Guard benchmark: input-guard latency on a ~200-token message (BERT NER vs patterns only),
stream output guard cost per chunk, and PII recall/precision on Faker text from locales and
templates the NER never trained on. `python -m loadtest.bench_guard`"""

from __future__ import annotations

import argparse
import random
import time

from faker import Faker
from prometheus_client import CollectorRegistry

from inferstack.cache import CacheLayout
from inferstack.config import Settings
from inferstack.guard.metrics import GuardMetrics
from inferstack.guard.pii import PiiDetector
from inferstack.guard.service import GuardService
from inferstack.guard_config import PATTERN_ENTITIES, SECRET, GuardConfig
from inferstack.models.classifier import EntityRecognizer
from inferstack.models.guard_text import ensure_text_classifier
from loadtest.bench_classify import latency_ms

MESSAGE = ("Hi, I'm Maria Gonzalez from Madrid. My email is maria.gonzalez@example.com and my phone is "
           "+44 20 7946 0958. " + "Please help me understand the billing statement I received last month; "
           "it has several charges I do not recognize and I want them reversed quickly. " * 5)  # fmt: skip
LOCALES = ("fr_FR", "de_DE", "es_MX", "fi_FI", "ro_RO", "hu_HU", "id_ID", "ko_KR", "pt_PT", "en_US", "en_IN")
TEMPLATES = ("Note from {PERSON}: please call {PHONE_NUMBER} or write {EMAIL_ADDRESS}.",
             "Refund to card {CREDIT_CARD}, account holder {PERSON}.",
             "Wire it to {IBAN_CODE} ({PERSON}), thanks.",
             "The VPN host {IP_ADDRESS} rejects me; my colleague {PERSON} sees the same.",
             "{PERSON} here, reach me at {EMAIL_ADDRESS} or {PHONE_NUMBER}.",
             "ssn on file: {US_SSN}, name {PERSON}")  # fmt: skip


def pii_set(n: int, seed: int = 11) -> list[tuple[str, list[tuple[str, str]]]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        fake = Faker(LOCALES[i % len(LOCALES)])
        fake.seed_instance(seed + i)
        us = Faker("en_US")
        us.seed_instance(seed + i)
        values = {"PERSON": fake.name(), "EMAIL_ADDRESS": fake.email(), "PHONE_NUMBER": us.phone_number()
                  if rng.random() < 0.4 else "+" + str(rng.choice([33, 49, 44, 34])) + " " + fake.msisdn()[-9:],
                  "CREDIT_CARD": us.credit_card_number(rng.choice(["visa16", "mastercard", "amex", "discover"])),
                  "IBAN_CODE": Faker(rng.choice(["de_DE", "fr_FR", "nl_NL", "es_ES", "en_GB"])).iban(),
                  "IP_ADDRESS": us.ipv4() if rng.random() < 0.6 else us.ipv6(), "US_SSN": us.ssn()}  # fmt: skip
        template = TEMPLATES[i % len(TEMPLATES)]
        text = template.format(**values)
        rows.append((text, [(k, v) for k, v in values.items() if "{" + k + "}" in template]))
    return rows


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


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    cache = CacheLayout(Settings().cache_dir)
    cache.apply_to_process()
    scorer = ensure_text_classifier(cache.guard_text).score
    ner = EntityRecognizer.load(cache.trained("ner"))
    rows = pii_set(300)
    print(f"message: {len(MESSAGE.split())} words")
    for kind in ("bert", "none"):
        detector = PiiDetector.build(kind, ner, cache.spacy_blank)
        guard = GuardService(GuardConfig(), detector, scorer, GuardMetrics(CollectorRegistry()))
        scan = latency_ms(lambda g=guard: g.scan_sync(MESSAGE, "input", "anonymous"), 200)  # type: ignore[misc]
        print(f"input guard ner={kind}: p50 {scan['p50_ms']:.1f} ms  p99 {scan['p99_ms']:.1f} ms")
        print(f"  pii quality ner={kind}: {pii_quality(detector, rows)}")
        if kind == "none":
            text = latency_ms(lambda g=guard: g._text(MESSAGE, "default", g.config.policies["default"]), 200)  # type: ignore[misc]
            print(f"  text checks (classifier + Guardrails): p50 {text['p50_ms']:.2f} ms")
            output = guard.output_filter("anonymous", None)
            stream = output.stream()
            answer = MESSAGE * 3
            per_chunk = []
            for i in range(0, len(answer), 4):
                t = time.perf_counter()
                stream.feed(answer[i : i + 4])
                per_chunk.append((time.perf_counter() - t) * 1000)
            per_chunk.sort()
            print(f"stream output guard per 4-char chunk: p50 {per_chunk[len(per_chunk) // 2]:.3f} ms  "
                  f"p99 {per_chunk[int(0.99 * (len(per_chunk) - 1))]:.3f} ms")  # fmt: skip
        guard.close()


if __name__ == "__main__":
    main()
