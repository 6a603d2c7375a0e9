"""Text helpers shared by packages that must not import each other (retrieval's context
assembly and the reranker's training data both skip near-copies with them; the NER's training
data and the PII evaluation both place annotated values with `occurrences`; the guard writes
`PLACEHOLDER`s and the session store renumbers them)."""

from __future__ import annotations

import re

# A pseudonym the input guard puts in place of a PII value: `<PERSON_1>`, `<EMAIL_ADDRESS_2>`.
PLACEHOLDER = re.compile(r"<([A-Z_]+?)_(\d+)>")


def word_set(text: str) -> set[str]:
    """Lower-cased words: the unit of near-duplicate checks between chunks or passages."""
    return set(re.findall(r"\w+", text.lower()))


def occurrences(text: str, value: str) -> list[tuple[int, int]]:
    """(start, end) of every occurrence of `value` in `text`, overlapping ones included."""
    out, start = [], text.find(value)
    while start >= 0:
        out.append((start, start + len(value)))
        start = text.find(value, start + 1)
    return out


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
