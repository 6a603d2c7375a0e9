"""BIO decoding of token predictions into character spans (pure logic, table-driven)."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from inferstack.config import Settings
from inferstack.models.classifier import Entity, EntityRecognizer, IntentClassifier, capital_flags
from inferstack.models.embeddings import minilm_path

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
    # ... and of another type: one word is one entity, of its first part's type
    (HYPHEN, [(4, 8), (8, 9), (9, 14)], [1, 2, 3], [1, 0, 3], [("PERSON", "Lima-Costa")]),
    # a hyphen tagged into the entity, then B- right after it: still one word
    (HYPHEN, [(4, 8), (8, 9), (9, 14)], [1, 2, 3], [1, 2, 1], [("PERSON", "Lima-Costa")]),
    # "'s" after the name stays outside (O after the joiner), as does a word after a spaced dash
    (HYPHEN, [(4, 8), (8, 9), (9, 14), (14, 15), (15, 16)], [1, 2, 3, 4, 5], [1, 0, 3, 0, 0],
     [("PERSON", "Lima-Costa")]),
    # a capitalised part tagged O after a hyphen stays in ("Ernst-August": a month in training)
    (HYPHEN, [(4, 8), (8, 9), (9, 14), (14, 15), (15, 16)], [1, 2, 3, 4, 5], [1, 0, 0, 0, 0],
     [("PERSON", "Lima-Costa")]),
    # in capitals throughout, "'S" is no name part; "COSTA" tagged I- stays in
    (HYPHEN.upper(), [(4, 8), (8, 9), (9, 14), (14, 15), (15, 16)], [1, 2, 3, 4, 5], [1, 0, 2, 0, 0],
     [("PERSON", "LIMA-COSTA")]),
    ("Ana - Porto", [(0, 3), (4, 5), (6, 11)], [0, 1, 2], [1, 0, 3],
     [("PERSON", "Ana"), ("LOCATION", "Porto")]),
]  # fmt: skip


PARTICLES = [
    # (text, [(label, start, end)]) -> entities after particles are joined
    ("Lucas du Lacombe", [("PERSON", 0, 5), ("PERSON", 9, 16)], [("PERSON", "Lucas du Lacombe")]),
    ("Lucas du Lacombe", [("PERSON", 0, 5), ("LOCATION", 6, 8), ("PERSON", 9, 16)],
     [("PERSON", "Lucas du Lacombe")]),
    ("Maria de la Cruz", [("PERSON", 0, 5), ("PERSON", 12, 16)], [("PERSON", "Maria de la Cruz")]),
    ("Ana y Pedro", [("PERSON", 0, 3), ("PERSON", 6, 11)], [("PERSON", "Ana"), ("PERSON", "Pedro")]),
    ("Ana de Porto", [("PERSON", 0, 3), ("LOCATION", 7, 12)], [("PERSON", "Ana"), ("LOCATION", "Porto")]),
    ("Ana\nde Lima", [("PERSON", 0, 3), ("PERSON", 7, 11)], [("PERSON", "Ana"), ("PERSON", "Lima")]),
    ("hi de", [("PERSON", 3, 5)], [("PERSON", "de")]),  # no name before it: left as the model said
]  # fmt: skip


@pytest.mark.parametrize(("text", "found", "expected"), PARTICLES)
def test_name_particles_join_two_parts_of_one_name(
    text: str, found: list[tuple[str, int, int]], expected: list[tuple[str, str]]
) -> None:
    entities = [Entity(label, text[s:e], s, e, 0.9) for label, s, e in found]
    assert [(e.label, e.text) for e in EntityRecognizer._join_particles(text, entities)] == expected


@pytest.mark.parametrize(("text", "offsets", "words", "ids", "expected"), CASES)
def test_decode(
    text: str, offsets: list[tuple[int, int]], words: list[int | None], ids: list[int],
    expected: list[tuple[str, str]],
) -> None:  # fmt: skip
    entities = recognizer()._decode(text, [list(o) for o in offsets], words, ids, [0.9] * len(ids))
    assert [(e.label, e.text) for e in entities] == expected
    for entity in entities:
        assert text[entity.start : entity.end] == entity.text


def test_batches_are_cut_by_length_and_answers_keep_the_callers_order() -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path(Settings().embeddings.package)))
    widths: list[int] = []

    def logits(enc: dict[str, np.ndarray]) -> np.ndarray:
        """One-hot on each row's token count, so a label says which text it came from."""
        widths.append(enc["input_ids"].shape[1])
        return np.eye(20)[enc["attention_mask"].numpy().sum(-1)]

    classifier = IntentClassifier(tokenizer, [f"tokens={n}" for n in range(20)], logits)
    texts = ["a b c d e f g h", "a", "a b c d e f g", "a b", "a b c d e f g h i", "a b c"]
    assert [i.label for i in classifier.predict(texts, batch_size=2)] == [
        f"tokens={n}" for n in (10, 3, 9, 4, 11, 5)
    ]
    assert widths == [4, 9, 11]  # [a, a b], [a b c, a b c d e f g], [a b c d e f g h, ... i]


def test_capital_flags_mark_every_piece_of_a_capitalised_word() -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path(Settings().embeddings.package)))
    text = "hi Kovács, meet rose Rose-Marie in ÉVORA 東京"
    enc = tokenizer(text, return_offsets_mapping=True)
    flags = capital_flags(text, enc["offset_mapping"], enc.word_ids())
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert list(zip(pieces, flags, strict=True)) == [
        ("[CLS]", 0), ("hi", 0), ("ko", 1), ("##vac", 1), ("##s", 1), (",", 0), ("meet", 0),
        ("rose", 0), ("rose", 1), ("-", 0), ("marie", 1), ("in", 0), ("ev", 1), ("##ora", 1),
        ("東", 0), ("京", 0), ("[SEP]", 0),
    ]  # fmt: skip
    batch = tokenizer(["rose", "a rose in bloom"], padding=True, return_offsets_mapping=True)
    assert capital_flags("rose", batch["offset_mapping"][0], batch.word_ids(0)) == [0] * 6  # padded row
    # A text mostly in capitals reads as lower case: its capitals do not mark names.
    shout = "HI, I AM ANA LIMA FROM Porto"
    enc = tokenizer(shout, return_offsets_mapping=True)
    assert capital_flags(shout, enc["offset_mapping"], enc.word_ids()) == [0] * len(enc["input_ids"])
