"""Rendering: strict variables, the immutable sandbox, errors that name the template id."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config.prompts import PromptsConfig
from inferstack.prompts import Prompt, PromptError, PromptRegistry
from tests.prompts.conftest import GREETING, write


def greeting(tmp_path: Path, template: str) -> Prompt:
    text = GREETING.replace("  Hello {{ who }}.\n  Nice to see you.\n", f"  {template}\n")
    write(tmp_path / "shipped", "greeting.yaml", text)
    return PromptRegistry.load(PromptsConfig(), shipped=tmp_path / "shipped").get("greeting")


def test_renders_without_a_trailing_newline(shipped: Path) -> None:
    prompt = PromptRegistry.load(PromptsConfig(), shipped=shipped).get("greeting")
    assert prompt.id == "greeting-v1" and prompt.source == shipped / "greeting.yaml"
    assert prompt.render(who="Ana") == "Hello Ana.\nNice to see you."


def test_missing_and_unknown_variables_name_the_template(shipped: Path) -> None:
    prompt = PromptRegistry.load(PromptsConfig(), shipped=shipped).get("greeting")
    with pytest.raises(PromptError, match=r"template 'greeting-v1' .*missing variable\(s\) \['who'\]"):
        prompt.render()
    with pytest.raises(PromptError, match=r"template 'greeting-v1' .*unknown variable\(s\) \['whom'\]"):
        prompt.render(who="Ana", whom="Bo")


def test_strict_undefined_refuses_a_missing_attribute(tmp_path: Path) -> None:
    prompt = greeting(tmp_path, "Hello {{ who.name }}.")
    assert prompt.render(who={"name": "Ana"}) == "Hello Ana."
    with pytest.raises(
        PromptError, match=r"template 'greeting-v1' .*cannot render: .*has no attribute 'name'"
    ):
        prompt.render(who={"title": "Dr"})


@pytest.mark.parametrize(
    "template",
    [
        "{{ who }}{{ ''.__class__.__mro__ }}",
        "{{ who.__class__.__subclasses__() }}",
        "{{ who }}{{ cycler.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals(tmp_path: Path, template: str) -> None:
    prompt = greeting(tmp_path, template)
    with pytest.raises(
        PromptError, match=r"template 'greeting-v1' .*refused by the sandbox: access to attribute"
    ):
        prompt.render(who="Ana")


def test_the_sandbox_is_immutable(tmp_path: Path) -> None:
    prompt = greeting(tmp_path, "{{ who.append('x') }}")
    with pytest.raises(PromptError, match="refused by the sandbox"):
        prompt.render(who=["Ana"])
