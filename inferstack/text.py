"""Text measures shared by packages that must not import each other (retrieval's context
assembly and the reranker's training data both skip near-copies with them)."""

from __future__ import annotations

import re


def word_set(text: str) -> set[str]:
    """Lower-cased words: the unit of near-duplicate checks between chunks or passages."""
    return set(re.findall(r"\w+", text.lower()))


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
