"""The regression cases of every shipped template, counted with the real SmolLM2 tokenizer (the
one the gateway fits prompts with), and what a failing case reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.prompts import PromptsConfig
from inferstack.models.materialize import pull
from inferstack.prompts import Case, Expect, PromptRegistry, TokenCounter, check, run_cases
from inferstack.serving.runtime import token_counter


@pytest.fixture(scope="module")
def smollm2_count() -> TokenCounter:
    settings = Settings()
    spec = settings.default_deployment
    folder = pull(spec, CacheLayout(settings.cache_dir).ensure().models).path  # `make test` pulled it
    assert (folder / "tokenizer.json").is_file()
    return token_counter(settings, {spec.name: folder})


def test_every_shipped_case_passes(smollm2_count: TokenCounter) -> None:
    registry = PromptRegistry.load(PromptsConfig())
    results = run_cases(registry.all(), smollm2_count)
    assert len(results) >= 2 * len(registry.names())
    assert [r for r in results if not r.passed] == []
    # real tokens, not the ~4-characters estimate: the tokenizer splits text differently
    rag = registry.get("rag").render(sources=[])
    assert smollm2_count(rag) != len(rag) // 4 + 1


def test_a_failing_case_lists_every_failure(shipped: Path) -> None:
    prompt = PromptRegistry.load(PromptsConfig(), shipped=shipped).get("greeting")
    case = Case("strict", {"who": "Ana"}, Expect(("Goodbye",), ("Hello",), 1))
    result = check(prompt, case, lambda text: len(text.split()), "acme")
    assert not result.passed and result.tenant == "acme" and result.tokens == 6
    assert result.failures == ("missing 'Goodbye'", "contains 'Hello'", "6 tokens > max_tokens 1")
    broken = check(prompt, Case("no vars", {}), len)
    assert broken.tokens is None and "missing variable(s) ['who']" in broken.failures[0]
