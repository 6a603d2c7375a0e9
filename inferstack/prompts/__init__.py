"""Versioned prompt templates: Jinja2 text in YAML files with declared variables and regression
cases, shipped in `defaults/`, overridable for every tenant or for one (docs/prompts.md).

A layer of its own between the stage packages and `config`: it imports only `config`, `errors`,
`text` and libraries, so every stage package may use it.
"""

from __future__ import annotations

from inferstack.prompts.cases import CaseResult, TokenCounter, check, run_cases
from inferstack.prompts.registry import ALL_TENANTS, DEFAULTS_DIR, PromptRegistry
from inferstack.prompts.template import Case, Expect, Prompt, PromptError

__all__ = [
    "ALL_TENANTS",
    "DEFAULTS_DIR",
    "Case",
    "CaseResult",
    "Expect",
    "Prompt",
    "PromptError",
    "PromptRegistry",
    "TokenCounter",
    "check",
    "run_cases",
]
