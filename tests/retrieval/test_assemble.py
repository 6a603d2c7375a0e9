"""Context assembly with the `rag` prompt template: the text is byte for byte what the numbered
sources always were, under the token budget, with the template's id."""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.config.prompts import PromptsConfig
from inferstack.config.retrieval import RetrievalConfig
from inferstack.prompts import Prompt, PromptRegistry
from inferstack.retrieval.service import RetrievalService, Retrieved
from inferstack.retrieval.store import Hit

# The prompt as retrieval assembled it before templates (rag-v1): head + blocks joined by a blank line.
HEAD = (
    "Answer using the numbered sources below when they are relevant, and cite them like [1]. "
    "If they do not contain the answer, say so.\n\n"
)


class WordCounter:
    """The encoder's token count, as words (assembly needs nothing else of it)."""

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def service() -> RetrievalService:
    return RetrievalService(None, WordCounter(), None, RetrievalConfig())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rag() -> Prompt:
    return PromptRegistry.load(PromptsConfig()).get("rag")


def hit(n: int, text: str, title: str = "") -> Retrieved:
    metadata: dict[str, Any] = {"n": n}
    return Retrieved(Hit(f"c{n}", f"doc-{n}.md", title, text, metadata, 1.0 / n), 1.0 / n)


def test_the_rendered_prompt_is_the_rag_v1_text(rag: Prompt) -> None:
    results = [
        hit(1, "Start the VPN client first.\n\nThen open the intranet.", "VPN"),
        hit(2, "Leave is 25 days a year.", ""),  # no title: the document id stands in
        hit(3, "Expenses: keep the receipts {{ not a template }}.", "Expenses"),
    ]
    context = service().assemble(results, 1000, rag)
    blocks = [f"[{i}] {r.hit.title or r.hit.document_id}\n{r.hit.text}" for i, r in enumerate(results, 1)]
    assert context.system_prompt == HEAD + "\n\n".join(blocks)
    assert context.prompt_id == "rag-v1"
    assert [s["index"] for s in context.sources] == [1, 2, 3] and context.sources[1]["title"] == ""
    counted = WordCounter().count_tokens
    assert context.tokens == counted(HEAD) + sum(counted(r.hit.text) + 8 for r in results)


def test_the_budget_counts_the_head_and_skips_what_does_not_fit(rag: Prompt) -> None:
    head = WordCounter().count_tokens(HEAD)
    results = [hit(1, "one two three four five six seven eight nine ten"), hit(2, "short text")]
    context = service().assemble(results, head + 8 + 2, rag)  # only the second fits
    assert context.system_prompt == HEAD + "[1] doc-2.md\nshort text"
    empty = service().assemble(results, head, rag)
    assert (empty.system_prompt, empty.sources, empty.tokens, empty.prompt_id) == ("", [], 0, None)
