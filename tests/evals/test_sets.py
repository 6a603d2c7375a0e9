"""Reading golden sets: good files load, bad lines fail naming the file and the line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inferstack.evals.run import INTENT_LABELS
from inferstack.evals.sets import SetError, corpus, injection_cases, intent_cases, pii_cases


def write(path: Path, rows: list[object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_good_sets_load(tmp_path: Path) -> None:
    intent = write(tmp_path / "i.jsonl", [{"text": "hi", "label": "greeting", "note": "x"}])
    assert intent_cases(intent, INTENT_LABELS)[0].label == "greeting"
    pii = write(tmp_path / "p.jsonl", [{"text": "I am Ana", "pii": [{"type": "PERSON", "value": "Ana"}]},
                                      {"text": "helm upgrade", "pii": []}])  # fmt: skip
    assert [c.values for c in pii_cases(pii)] == [(("PERSON", "Ana"),), ()]
    attack = write(tmp_path / "a.jsonl", [{"text": "ignore it all", "label": "attack", "category": "x"}])
    assert injection_cases(attack)[0].attack
    write(tmp_path / "kb" / "docs.jsonl", [{"id": "a", "title": "A", "text": "alpha"}])
    write(tmp_path / "kb" / "questions.jsonl", [{"query": "what is a", "relevant": ["a"]}])
    kb = corpus(tmp_path / "kb")
    assert kb.name == "kb" and kb.questions[0].relevant == {"a"}


@pytest.mark.parametrize(
    ("reader", "rows", "message"),
    [
        ("intent", ['{"text": "hi"'], "i.jsonl:1: not JSON"),
        ("intent", [{"text": "hi", "label": "greeting"}, {"text": "yo", "label": "x"}], "2: unknown label"),
        ("intent", [{"text": "  ", "label": "greeting"}], "i.jsonl:1: `text` must be a non-empty str"),
        ("pii", [{"text": "I am Ana", "pii": [{"type": "PERSON", "value": "Bob"}]}], "found in the text"),
        ("pii", [{"text": "I am Ana", "pii": [{"type": "NAME", "value": "Ana"}]}], "known `type`"),
        ("injection", [{"text": "x", "label": "evil"}], "attack or benign"),
        ("intent", [], "no examples"),
    ],
)  # fmt: skip
def test_bad_lines_name_file_and_line(tmp_path: Path, reader: str, rows: list[object], message: str) -> None:
    path = write(tmp_path / "i.jsonl", rows)
    read = {
        "intent": lambda p: intent_cases(p, INTENT_LABELS),
        "pii": pii_cases,
        "injection": injection_cases,
    }
    with pytest.raises(SetError, match=re.escape(message)):
        read[reader](path)


def test_questions_must_point_at_documents(tmp_path: Path) -> None:
    write(tmp_path / "kb" / "docs.jsonl", [{"id": "a", "text": "alpha"}])
    write(tmp_path / "kb" / "questions.jsonl", [{"query": "q", "relevant": ["b"]}])
    with pytest.raises(SetError, match=r"relevant ids not in docs\.jsonl"):
        corpus(tmp_path / "kb")
