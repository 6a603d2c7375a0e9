"""Viterbi BIO paths from per-piece probabilities (pure logic, hand-made probabilities)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from inferstack.models.bio import BioPath

TAGS = ["O", "B-PERSON", "I-PERSON", "B-ORGANIZATION", "I-ORGANIZATION"]
OUT, BP, IP, BO, IO = range(5)


def rows(*pieces: dict[int, float]) -> np.ndarray:
    """One probability row per piece; classes not named share what is left."""
    out = np.zeros((len(pieces), len(TAGS)))
    for row, given in zip(out, pieces, strict=True):
        rest = [k for k in range(len(TAGS)) if k not in given]
        row[rest] = (1 - sum(given.values())) / len(rest)
        for k, p in given.items():
            row[k] = p
    return out


CASES = [
    # (pieces, word ids) -> tags
    # a stray I- at the start (argmax I-PERSON) becomes the entity's B-
    ([{IP: 0.5, BP: 0.3, OUT: 0.15}], [0], [BP]),
    # ... and after O
    ([{OUT: 0.9}, {IP: 0.5, BP: 0.3, OUT: 0.15}], [0, 1], [OUT, BP]),
    # one unsure word does not split a name into two types (argmax: ORG, ORG, PERSON)
    ([{BO: 0.5, BP: 0.45}, {IO: 0.4, IP: 0.35}, {IP: 0.9}], [0, 1, 2], [BP, IP, IP]),
    # ... unless the evidence for the other type is strong
    ([{BO: 0.9}, {IO: 0.9}, {BP: 0.5, IP: 0.4}], [0, 1, 2], [BO, IO, BP]),
    # a word's later pieces follow its first piece, whatever their own argmax
    ([{BP: 0.6}, {OUT: 0.9}, {OUT: 0.9}], [0, 0, 1], [BP, IP, OUT]),
    ([{OUT: 0.6}, {IP: 0.9}], [0, 0], [OUT, OUT]),
    # special and padding tokens are skipped: tag 0, and the path runs across them
    ([{OUT: 0.9}, {BP: 0.8}, {IP: 0.8}, {OUT: 0.9}, {OUT: 0.9}], [None, 0, 1, None, None],
     [OUT, BP, IP, OUT, OUT]),
    ([{OUT: 0.9}], [None], [OUT]),
]  # fmt: skip


@pytest.mark.parametrize(("pieces", "words", "expected"), CASES)
def test_path_is_valid_bio_and_follows_words(
    pieces: list[dict[int, float]], words: list[int | None], expected: list[int]
) -> None:
    assert BioPath(TAGS).tags(rows(*pieces)[None], [words])[0][0].tolist() == expected


def test_a_batch_gives_each_row_its_own_path() -> None:
    """Rows of different lengths in one padded batch: each row as if alone."""
    path = BioPath(TAGS)
    cases = [(rows(*pieces), words) for pieces, words, _ in CASES]
    width = max(len(words) for _, words in cases)
    batch = np.zeros((len(cases), width, len(TAGS)))
    for row, (probs, _) in enumerate(cases):
        batch[row, : len(probs)] = probs
        batch[row, len(probs) :] = rows({OUT: 0.1, IP: 0.8})  # padding that would read as a name
    padded = [list(words) + [None] * (width - len(words)) for _, words in cases]
    ids, scores = path.tags(batch, padded)
    for row, (_, _, expected) in enumerate(CASES):
        assert ids[row].tolist() == expected + [0] * (width - len(expected))
        assert not scores[row, len(expected) :].any()


def test_score_is_the_chance_of_the_type_and_zero_off_the_text() -> None:
    probs = rows({BP: 0.5, IP: 0.3}, {IP: 0.4, BP: 0.1, OUT: 0.45}, {OUT: 0.9})
    ids, scores = BioPath(TAGS).tags(probs[None], [[0, 0, None]])
    assert ids[0].tolist() == [BP, IP, OUT]
    assert scores[0].tolist() == pytest.approx([0.8, 0.5, 0.0])


def test_path_is_the_best_valid_one_by_brute_force() -> None:
    """Random probabilities over four one-piece words: the result equals the best of all valid
    tag sequences, both where the argmax path is valid (kept) and where it is not (Viterbi)."""
    path, rng = BioPath(TAGS), np.random.default_rng(0)
    kinds = [tag.partition("-") for tag in TAGS]

    def valid(seq: tuple[int, ...]) -> bool:
        previous = ("", "", "")
        for tag in seq:
            kind, _, label = kinds[tag]
            if kind == "I" and previous[2] != label:
                return False
            previous = kinds[tag]
        return True

    repaired = 0
    for _ in range(200):
        probs = rng.dirichlet(np.full(len(TAGS), 0.5), size=4)
        best = max(
            (seq for seq in itertools.product(range(len(TAGS)), repeat=4) if valid(seq)),
            key=lambda seq: sum(np.log(probs[t, tag]) for t, tag in enumerate(seq)),
        )
        assert path.tags(probs[None], [[0, 1, 2, 3]])[0][0].tolist() == list(best)
        repaired += not valid(tuple(probs.argmax(-1)))
    assert 20 < repaired < 180  # both branches were taken
