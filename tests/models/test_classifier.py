"""BIO decoding of token predictions into character spans (pure logic, table-driven)."""

from __future__ import annotations

import pytest

from inferstack.models.classifier import EntityRecognizer

TAGS = ["O", "B-PERSON", "I-PERSON", "B-LOCATION", "I-LOCATION"]


def recognizer() -> EntityRecognizer:
    return EntityRecognizer(tokenizer=None, labels=TAGS, logits=lambda enc: enc)  # type: ignore[arg-type]


TEXT = "I am Ana Lima from Porto"
#       0123456789012345678901234
PUNCT = "Hi Ana."
FORM = "Name: Ana\nCity: Porto"
HYPHEN = "Ana Lima-Costa's car"
#         01234567890123456789
CASES = [
    # (text, offsets, word ids, tag ids) -> entities
    (TEXT, [(0, 1), (2, 4), (5, 8), (9, 13), (14, 18), (19, 24)], [0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 0, 3],
     [("PERSON", "Ana Lima"), ("LOCATION", "Porto")]),
    # a subword continuation is glued to its word even when tagged O
    (TEXT, [(5, 7), (7, 8), (9, 13)], [2, 2, 3], [1, 0, 2], [("PERSON", "Ana Lima")]),
    # adjacent punctuation is its own word: not glued
    (PUNCT, [(0, 2), (3, 6), (6, 7)], [0, 1, 2], [0, 1, 0], [("PERSON", "Ana")]),
    # a new B- starts a new entity
    (TEXT, [(5, 8), (9, 13)], [2, 3], [1, 1], [("PERSON", "Ana"), ("PERSON", "Lima")]),
    # I- of another type does not extend; a stray I- opens an entity (lenient, like seqeval)
    (TEXT, [(5, 8), (9, 13)], [2, 3], [1, 4], [("PERSON", "Ana"), ("LOCATION", "Lima")]),
    (TEXT, [(0, 0), (5, 8), (0, 0)], [None, 2, None], [0, 3, 0], [("LOCATION", "Ana")]),
    # an entity never continues across a line break
    (FORM, [(0, 4), (4, 5), (6, 9), (10, 14), (14, 15), (16, 21)], [0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 0, 3],
     [("PERSON", "Ana"), ("LOCATION", "Porto")]),
    # a hyphen inside one word joins two pieces of the same entity, even one tagged B- after it
    (HYPHEN, [(0, 3), (4, 8), (8, 9), (9, 14), (14, 15), (15, 16), (17, 20)], [0, 1, 2, 3, 4, 5, 6],
     [1, 2, 0, 1, 0, 0, 0], [("PERSON", "Ana Lima-Costa")]),
    # ... but not pieces of another type ("'s" after the name stays outside: first case)
    (HYPHEN, [(4, 8), (8, 9), (9, 14)], [1, 2, 3], [1, 0, 3], [("PERSON", "Lima"), ("LOCATION", "Costa")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "offsets", "words", "ids", "expected"), CASES)
def test_decode(
    text: str, offsets: list[tuple[int, int]], words: list[int | None], ids: list[int],
    expected: list[tuple[str, str]],
) -> None:  # fmt: skip
    entities = recognizer()._decode(text, [list(o) for o in offsets], words, ids, [0.9] * len(ids))
    assert [(e.label, e.text) for e in entities] == expected
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text
