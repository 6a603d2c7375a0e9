"""Training data written by hand (by people who never saw the evaluation sets in `eval/`), shipped
in `data/`: intent messages, injection attacks and hard benign prompts, NER sentences. A fixed
15 % of each file (by a hash of the text) is a calibration split that never trains."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
INTENT = DATA / "intent_written.jsonl"
INJECTION = DATA / "injection_written.jsonl"
# A second batch by another writer, same schema and categories.
INJECTION_SECOND = DATA / "injection_written_2.jsonl"
NER = DATA / "ner_written.jsonl"


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def is_calibration(text: str) -> bool:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % 100 < 15


def split(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, calibration rows) of one file."""
    data = rows(path)
    return [r for r in data if not is_calibration(r["text"])], [r for r in data if is_calibration(r["text"])]
