"""Redaction of findings: `<TYPE>` masks, or `<TYPE_n>` pseudonyms that are stable within one
request and can be mapped back in the answer. The mapping lives only in request memory."""

from __future__ import annotations

from collections.abc import Sequence

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from inferstack.guard.findings import Finding
from inferstack.text import PLACEHOLDER


def masked(text: str, findings: Sequence[Finding]) -> str:
    """`text` with each finding's span replaced by `<TYPE>` (overlaps: the first one wins)."""
    out, end = [], 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < end:
            continue
        out += [text[end : f.start], f"<{f.type}>"]
        end = f.end
    out.append(text[end:])
    return "".join(out)


class Pseudonyms:
    """value -> `<TYPE_n>` for one request; `restore` maps placeholders back to values."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        if key not in self._by_value:
            n = 1 + sum(1 for t, _ in self._by_value if t == entity)
            name = f"<{entity}_{n}>"
            self._by_value[key] = name
            self._by_placeholder[name] = value
        return self._by_value[key]

    def restore(self, text: str) -> str:
        if not self._by_placeholder:
            return text
        return PLACEHOLDER.sub(lambda m: self._by_placeholder.get(m.group(), m.group()), text)

    def __bool__(self) -> bool:
        return bool(self._by_placeholder)


class Redactor:
    def __init__(self) -> None:
        self.engine = AnonymizerEngine()  # type: ignore[no-untyped-call]

    def redact(self, text: str, findings: Sequence[Finding], pseudonyms: Pseudonyms | None = None) -> str:
        if not findings:
            return text
        results = [RecognizerResult(f.type, f.start, f.end, f.score) for f in findings]
        if pseudonyms is not None:  # number placeholders in reading order
            for f in sorted(findings, key=lambda f: f.start):
                pseudonyms.placeholder(f.type, text[f.start : f.end])
        operators = {}
        for entity in {f.type for f in findings}:
            if pseudonyms is None:
                operators[entity] = OperatorConfig("replace", {"new_value": f"<{entity}>"})
            else:
                operators[entity] = OperatorConfig(
                    "custom", {"lambda": lambda value, e=entity: pseudonyms.placeholder(e, value)}
                )
        return str(self.engine.anonymize(text=text, analyzer_results=results, operators=operators).text)
