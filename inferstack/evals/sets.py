"""Golden sets for `inferstack eval`: JSON Lines files (the hand-written ones in `eval/`, or a
user's own), and the project's generated held-out sets for comparison. A bad line is an error
naming the file and the line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PII_TYPES = ("PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
             "IP_ADDRESS")  # fmt: skip


class SetError(ValueError):
    """A golden set that cannot be read, phrased for a person: file, line, reason."""


@dataclass(frozen=True)
class IntentCase:
    text: str
    label: str


@dataclass(frozen=True)
class PiiCase:
    text: str
    values: tuple[tuple[str, str], ...]  # (type, exact substring of text)


@dataclass(frozen=True)
class InjectionCase:
    text: str
    attack: bool
    category: str


@dataclass(frozen=True)
class RouterCase:
    text: str
    strong: bool  # the prompt needs the strong tier


@dataclass(frozen=True)
class Question:
    query: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class Corpus:
    name: str
    documents: list[dict[str, Any]] = field(default_factory=list)  # id, title, text
    questions: list[Question] = field(default_factory=list)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SetError(f"{path}: cannot read ({exc.strerror})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SetError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise SetError(f"{path}:{number}: each line must be a JSON object")
        rows.append(row)
    if not rows:
        raise SetError(f"{path}: no examples")
    return rows


def _field(path: Path, number: int, row: dict[str, Any], key: str, kind: type) -> Any:
    value = row.get(key)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise SetError(f"{path}:{number}: `{key}` must be a non-empty {kind.__name__}")
    return value


def intent_cases(path: Path, labels: tuple[str, ...]) -> list[IntentCase]:
    cases = []
    for number, row in enumerate(read_jsonl(path), 1):
        label = _field(path, number, row, "label", str)
        if label not in labels:
            raise SetError(f"{path}:{number}: unknown label {label!r}; known: {', '.join(labels)}")
        cases.append(IntentCase(_field(path, number, row, "text", str), label))
    return cases


def pii_cases(path: Path) -> list[PiiCase]:
    cases = []
    for number, row in enumerate(read_jsonl(path), 1):
        text = _field(path, number, row, "text", str)
        values = []
        for item in _field(path, number, row, "pii", list) if row.get("pii") else []:
            kind, value = item.get("type"), item.get("value")
            if kind not in PII_TYPES or not isinstance(value, str) or value not in text:
                raise SetError(
                    f"{path}:{number}: each pii item needs a known `type` and a `value` found in the text"
                )
            values.append((kind, value))
        cases.append(PiiCase(text, tuple(values)))
    return cases


def injection_cases(path: Path) -> list[InjectionCase]:
    cases = []
    for number, row in enumerate(read_jsonl(path), 1):
        label = _field(path, number, row, "label", str)
        if label not in ("attack", "benign"):
            raise SetError(f"{path}:{number}: `label` must be attack or benign")
        cases.append(InjectionCase(_field(path, number, row, "text", str), label == "attack",
                                   str(row.get("category") or label)))  # fmt: skip
    return cases


def router_cases(path: Path) -> list[RouterCase]:
    cases = []
    for number, row in enumerate(read_jsonl(path), 1):
        cases.append(
            RouterCase(_field(path, number, row, "text", str), _field(path, number, row, "strong", bool))
        )
    return cases


def questions(path: Path) -> list[Question]:
    out = []
    for number, row in enumerate(read_jsonl(path), 1):
        relevant = _field(path, number, row, "relevant", list)
        if not all(isinstance(r, str) and r for r in relevant):
            raise SetError(f"{path}:{number}: `relevant` must list document ids")
        out.append(Question(_field(path, number, row, "query", str), frozenset(relevant)))
    return out


def corpus(folder: Path) -> Corpus:
    """`folder/docs.jsonl` (id, title, text) and `folder/questions.jsonl` (query, relevant)."""
    documents = read_jsonl(folder / "docs.jsonl")
    ids = set()
    for number, doc in enumerate(documents, 1):
        _field(folder / "docs.jsonl", number, doc, "id", str)
        _field(folder / "docs.jsonl", number, doc, "text", str)
        ids.add(doc["id"])
    asked = questions(folder / "questions.jsonl")
    unknown = sorted({r for q in asked for r in q.relevant} - ids)
    if unknown:
        raise SetError(f"{folder / 'questions.jsonl'}: relevant ids not in docs.jsonl: {unknown[:5]}")
    return Corpus(folder.name, documents, asked)


def named_sets(folder: Path) -> dict[str, Path]:
    """The `*.jsonl` files of a task's folder by name (dev, test, ...)."""
    return {p.stem: p for p in sorted(folder.glob("*.jsonl"))}
