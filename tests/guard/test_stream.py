"""The output guard on a stream: entities split across chunks are still redacted."""

from __future__ import annotations

import pytest

from inferstack.config.guard import PATTERN_ENTITIES, SECRET
from inferstack.guard.pii import PiiDetector
from inferstack.guard.redact import Pseudonyms
from inferstack.guard.stream import OutputFilter

EMAIL = "jane.doe@example.com"
TEXT = f"Sure, write to {EMAIL} and we will answer."


def output(pii: PiiDetector, **kw) -> OutputFilter:  # type: ignore[no-untyped-def]
    args = {
        "mask_pii": True,
        "link_mode": "rewrite",
        "allowlist": ("example.org",),
        "toxic": True,
        "pseudonyms": None,
        "window": 48,
    }
    args.update(kw)
    return OutputFilter(pii.pattern_detector([*PATTERN_ENTITIES, SECRET]), **args)  # type: ignore[arg-type]


def split_email(parts: int) -> list[list[str]]:
    """Every way to cut the e-mail into `parts` pieces (cut points inside the address)."""
    start = TEXT.index(EMAIL)
    inner = range(start + 1, start + len(EMAIL))
    cuts: list[list[int]] = [[c] for c in inner]
    for _ in range(parts - 2):
        cuts = [[*c, n] for c in cuts for n in inner if n > c[-1] + 2]
    return [[TEXT[a:b] for a, b in zip([0, *c], [*c, len(TEXT)], strict=True)] for c in cuts[::7]]


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_email_split_across_chunks_is_always_redacted(patterns_only: PiiDetector, parts: int) -> None:
    for chunks in split_email(parts):
        stream = output(patterns_only).stream()
        sent = "".join(stream.feed(c) for c in chunks) + stream.flush()
        assert EMAIL not in sent and "<EMAIL_ADDRESS>" in sent, chunks
        assert sent == TEXT.replace(EMAIL, "<EMAIL_ADDRESS>")


def test_only_a_small_tail_is_held_back(patterns_only: PiiDetector) -> None:
    stream = output(patterns_only).stream()
    sent = stream.feed("word " * 40)
    assert len(sent) >= 200 - 48 - len("word ") and len(stream.pending) <= 48 + len("word ")


def test_links_outside_the_allowlist_are_rewritten(patterns_only: PiiDetector) -> None:
    text = "Docs: https://docs.example.org/a and ![x](https://evil.io/p.png?d=secret) or http://other.net"
    out = output(patterns_only).apply(text)
    assert "https://docs.example.org/a" in out
    assert "evil.io" not in out and "other.net" not in out
    assert "![x]([link removed])" in out
    dropped = output(patterns_only, link_mode="drop").apply(text)
    assert "![x]" not in dropped and "evil.io" not in dropped


def test_toxic_words_are_masked(patterns_only: PiiDetector) -> None:
    assert output(patterns_only).apply("that is shit, sorry") == "that is [removed], sorry"


def test_pseudonyms_restored_even_when_split(patterns_only: PiiDetector) -> None:
    pseudonyms = Pseudonyms()
    placeholder = pseudonyms.placeholder("PERSON", "Maria Gonzalez")
    stream = output(patterns_only, pseudonyms=pseudonyms).stream()
    text = f"Hello {placeholder}, your order shipped. Anything else I can do for you today?"
    sent = "".join(stream.feed(text[i : i + 3]) for i in range(0, len(text), 3)) + stream.flush()
    assert sent == text.replace(placeholder, "Maria Gonzalez")
