"""Regression cases: render a template with each case's variables and check the text (substrings
present and absent, a token ceiling counted with the tokenizer the caller passes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from inferstack.prompts.template import Case, Prompt, PromptError

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class CaseResult:
    prompt_id: str
    tenant: str | None  # None: the default template
    case: str
    tokens: int | None  # None when the template did not render
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def check(prompt: Prompt, case: Case, count: TokenCounter, tenant: str | None = None) -> CaseResult:
    """One case: every failed expectation is listed, not just the first."""
    try:
        text = prompt.render(**case.variables)
    except PromptError as exc:
        return CaseResult(prompt.id, tenant, case.name, None, (str(exc),))
    failures = [f"missing {s!r}" for s in case.expect.contains if s not in text]
    failures += [f"contains {s!r}" for s in case.expect.not_contains if s in text]
    tokens = count(text)
    limit = case.expect.max_tokens
    if limit is not None and tokens > limit:
        failures.append(f"{tokens} tokens > max_tokens {limit}")
    return CaseResult(prompt.id, tenant, case.name, tokens, tuple(failures))


def run_cases(prompts: Iterable[tuple[str | None, Prompt]], count: TokenCounter) -> list[CaseResult]:
    """Every case of every (tenant, template) pair, e.g. `PromptRegistry.all()`."""
    return [check(prompt, case, count, tenant) for tenant, prompt in prompts for case in prompt.cases]
