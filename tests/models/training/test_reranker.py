"""The man-page data recipe and the reranker trained by `make` (cached artefact)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.reranker import Reranker
from inferstack.models.training import manpages
from inferstack.models.training.artefacts import ensure_trained
from inferstack.models.training.reranker import GROUP, passage, training_groups

ROFF = r""".\" comment
.TH LS "1" "September 2022" "GNU coreutils 9.1" "User Commands"
.SH NAME
ls \- list directory contents
.SH SYNOPSIS
.B ls
[\fI\,OPTION\/\fR]... [\fI\,FILE\/\fR]...
.SH DESCRIPTION
.PP
List information about the FILEs (the current directory by default).
Sort entries alphabetically if none of \fB\-cftuvSUX\fR nor \fB\-\-sort\fR is specified.
.TP
\fB\-a\fR, \fB\-\-all\fR
do not ignore entries starting with . and show every file, hidden or not, in the listing of
the directory that was given on the command line, one entry per line when piped.
.SH AUTHOR
Written by someone.
"""


def test_parse_extracts_the_name_line_and_plain_description() -> None:
    parsed = manpages.parse(ROFF)
    assert parsed is not None
    summary, description = parsed
    assert summary == "list directory contents"
    assert description.startswith("List information about the FILEs")
    assert "-cftuvSUX" in description and "--sort" in description and "\\f" not in description
    assert "Written by" not in description and "OPTION" not in description


def test_pages_without_a_description_are_skipped() -> None:
    assert manpages.parse(".SH NAME\nfoo \\- does foo things here\n.SH SYNOPSIS\nfoo\n") is None


def test_training_groups_hold_the_positive_first_then_hard_and_random_negatives() -> None:
    pages = [
        manpages.ManPage(f"p{i}.1", f"summary number {i} words", " ".join(f"w{i}x{k}" for k in range(80)))
        for i in range(30)
    ]
    # Page 1 is a near-copy of page 0 (same text, another name): never a negative for page 0.
    pages[1] = manpages.ManPage("p1.1", "summary number 1 words", pages[0].description)
    rng = np.random.default_rng(0)
    vectors = {t: rng.normal(size=8) for t in [passage(x) for x in pages] + [x.summary for x in pages]}
    # Page 1 is also the most similar page to page 0's query.
    vectors[passage(pages[1])] = vectors[pages[0].summary]
    groups = training_groups(pages, lambda texts: np.stack([vectors[t] for t in texts]), seed=1)
    assert len(groups) == len(pages)
    for page, group in zip(pages, groups, strict=True):
        assert len(group) == GROUP and all(q == page.summary for q, _ in group)
        positive, *negatives = (p for _, p in group)
        assert set(positive.split()) <= set(page.description.split())  # a window of the page
        assert passage(page) not in negatives
    assert passage(pages[1]) not in [p for _, p in groups[0][1:]]


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    cache = CacheLayout(Settings().cache_dir).ensure()
    ensure_trained(cache, ("reranker",))  # no-op when `make` trained it
    return Reranker.load(cache.trained("reranker"))


def test_trained_reranker_finds_the_page_among_distractors_on_held_out_pages(reranker: Reranker) -> None:
    """Held-out pages (never trained on): the true passage against 4 random others, top-1."""
    _, heldout = manpages.split(manpages.load_pages())
    rng = random.Random(7)
    sample = rng.sample(heldout, 100)
    hits = 0
    for page in sample:
        others = rng.sample([p for p in heldout if p is not page], 4)
        candidates = [passage(page), *(passage(o) for o in others)]
        scores = reranker.score_sync(page.summary, candidates)
        hits += int(np.argmax(scores) == 0)
    assert hits / len(sample) >= 0.8, hits  # chance is 0.2


def test_cutting_passages_to_their_first_words_keeps_the_scores(reranker: Reranker) -> None:
    """score_sync tokenises only the first max_length words of each passage: the encoding after
    truncation, hence the scores, must be those of the whole passage."""
    _, heldout = manpages.split(manpages.load_pages())
    pages = [p for p in heldout if len(p.description.split()) > 400][:8]
    query = pages[0].summary
    whole = reranker._tokenizer(
        [query] * len(pages), [p.description for p in pages], truncation="longest_first",
        max_length=reranker._max_length, padding=True, return_tensors="np",
    )  # fmt: skip
    expected = reranker._logits(whole)[:, 0]
    np.testing.assert_allclose(
        reranker.score_sync(query, [p.description for p in pages]), expected, atol=1e-5
    )


def test_a_reranker_folder_without_its_model_card_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="inferstack train reranker"):
        Reranker.load(tmp_path)
