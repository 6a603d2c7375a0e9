"""What a check found: a type, a character span and a score. Never the matched text."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Finding:
    type: str
    start: int
    end: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": round(self.score, 4)}


def without_overlaps(
    findings: Iterable[Finding], priority: Callable[[Finding], int] = lambda f: 0
) -> list[Finding]:
    """Keep the strongest of overlapping spans (priority, score, then length); sorted by start."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (-priority(f), -f.score, f.start - f.end, f.start)):
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    return dict(sorted(Counter(f.type for f in findings).items()))
