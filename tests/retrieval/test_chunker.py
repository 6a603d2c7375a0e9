from __future__ import annotations

import itertools

import pytest

from inferstack.retrieval.chunker import (
    WordMemoCounter,
    approx_tokens,
    chunk_document,
    html_sections,
    markdown_sections,
)

MD = """# Guide
Intro paragraph.

## Install
Run make.

```
# not a heading inside a fence
```

### Details
Deep text.

## Use
Call the API.
"""


def test_markdown_sections_follow_the_heading_trail() -> None:
    sections = markdown_sections(MD)
    assert [(s.path, s.text.splitlines()[0]) for s in sections] == [
        (("Guide",), "Intro paragraph."),
        (("Guide", "Install"), "Run make."),
        (("Guide", "Install", "Details"), "Deep text."),
        (("Guide", "Use"), "Call the API."),
    ]
    assert "# not a heading inside a fence" in sections[1].text


def test_html_sections_use_headings_and_skip_scripts() -> None:
    html = (
        "<html><head><title>t</title><style>p{}</style></head><body><h1>Top</h1><p>One.</p>"
        "<script>var x</script><h2>Sub</h2><ul><li>a</li><li>b</li></ul></body></html>"
    )
    sections = html_sections(html)
    assert [(s.path, s.text) for s in sections] == [(("Top",), "One."), (("Top", "Sub"), "a\n\nb")]


@pytest.mark.parametrize(
    ("text", "fmt", "expected_titles"),
    [
        (
            MD,
            "md",
            ["Doc > Guide", "Doc > Guide > Install", "Doc > Guide > Install > Details", "Doc > Guide > Use"],
        ),
        ("first para\n\nsecond para", "txt", ["Doc"]),
        ("<h1>A</h1><p>x</p><h1>B</h1><p>y</p>", "html", ["Doc > A", "Doc > B"]),
    ],
)
def test_one_chunk_per_small_section_with_heading_prefix(
    text: str, fmt: str, expected_titles: list[str]
) -> None:
    chunks = chunk_document(text, fmt, "Doc", max_tokens=100, overlap_tokens=10)
    assert [c.title for c in chunks] == expected_titles
    assert all(c.text.startswith(c.title + "\n\n") for c in chunks)


def test_long_text_respects_the_budget_and_overlaps() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(120)]
    chunks = chunk_document(" ".join(sentences), "txt", "", max_tokens=60, overlap_tokens=12)
    assert len(chunks) > 5
    assert all(approx_tokens(c.text) <= 60 for c in chunks)
    for before, after in itertools.pairwise(chunks):
        assert before.text.split()[-1] in after.text.split()[:12]  # the tail carries over
    joined = " ".join(c.text for c in chunks)
    assert all(s.split()[2] in joined for s in sentences)  # nothing lost


def test_duplicate_chunks_are_dropped_and_ids_are_content_hashes() -> None:
    text = "## A\nsame words here\n\n## B\nother\n\n## A\nsame words here"
    chunks = chunk_document(text, "md", "", max_tokens=50, overlap_tokens=5)
    assert len(chunks) == 2 and len({c.content_hash for c in chunks}) == 2
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_one_giant_word_still_terminates() -> None:
    chunks = chunk_document("x" * 5000, "txt", "", max_tokens=40, overlap_tokens=5)
    assert len(chunks) == 1


def test_overlap_must_be_below_budget() -> None:
    with pytest.raises(ValueError):
        chunk_document("text", "txt", "", max_tokens=20, overlap_tokens=20)


def test_word_memo_counts_like_the_tokenizer_and_cuts_the_same_chunks() -> None:
    from transformers import AutoTokenizer

    from inferstack.config import Settings
    from inferstack.models.embeddings import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path(Settings().embeddings.package)))

    def count(text: str) -> int:
        return len(tokenizer(text)["input_ids"])

    memo = WordMemoCounter(count)
    texts = ["", "ls - list directory contents", "Don't re-use tokens: naïve café, 3.14159!\n\nx" * 5, MD]
    assert [memo(t) for t in texts] == [count(t) for t in texts]
    text = MD + " ".join(f"Sentence {i}, with words like reconfiguration." for i in range(200))
    direct = chunk_document(text, "md", "Doc", max_tokens=60, overlap_tokens=10, count=count)
    memoised = chunk_document(text, "md", "Doc", max_tokens=60, overlap_tokens=10, count=memo)
    assert [c.text for c in memoised] == [c.text for c in direct] and len(direct) > 10
