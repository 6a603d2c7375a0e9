"""Every load-time error names the file, the template and the line of the YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config.prompts import PromptsConfig
from inferstack.prompts import PromptError, PromptRegistry
from tests.prompts.conftest import GREETING, write


def load_error(shipped: Path, overrides: Path | None = None) -> str:
    with pytest.raises(PromptError) as info:
        PromptRegistry.load(PromptsConfig(directory=overrides), shipped=shipped)
    return str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        # the template text starts on line 6 (after `template: |`): its third line is line 8
        (GREETING.replace("  Nice to see you.", "  Nice.\n  {% if who %}unclosed"), 8,
         "syntax error in template: Unexpected end of template"),
        (GREETING.replace("  Nice to see you.", "  {{ who | nosuchfilter }}"), 7,
         "syntax error in template: No filter named 'nosuchfilter'"),
        (GREETING.replace("  Nice to see you.", "  Nice.\n  From {{ sender }}."), 8,
         "variable 'sender' is used but not declared in `variables`"),
        (GREETING.replace("variables: [who]", "variables:\n  - who\n  - when"), 6,
         "variable 'when' is declared but never used"),
        (GREETING.replace("description: Greets someone.\n", ""), 1, "description: Field required"),
        (GREETING.replace("version: 1", "version: '1'"), 2, "version: Input should be a valid integer"),
        (GREETING.replace("version: 1", "version: 0"), 2,
         "version: Input should be greater than or equal to 1"),
        (GREETING + "colour: blue\n", 12, "colour: Extra inputs are not permitted"),
        (GREETING.replace("version: 1", "version: 1\nversion: 2"), 3, "key 'version' appears twice"),
        (GREETING.replace("{who: Ana}", "{who: Ana, whom: Bo}"), 10,
         "case 'greets': variable 'whom' is not declared"),
        (GREETING.replace("{who: Ana}", "{}"), 10, "case 'greets': missing variable(s) ['who']"),
        (GREETING.replace("{contains: [Hello Ana]}", "{max_tokens: many}"), 11,
         "cases.0.expect.max_tokens: Input should be a valid integer"),
        (GREETING.replace("cases:", "cases: [\n"), 10, "not valid YAML"),
        ("- a\n- list\n", 1, "the top level must be a mapping"),
    ],
)  # fmt: skip
def test_a_bad_template_names_file_template_and_line(tmp_path: Path, text: str, line: int, what: str) -> None:
    folder = tmp_path / "shipped"
    path = write(folder, "greeting.yaml", text)
    message = load_error(folder)
    assert message.startswith(f"{path}:{line}: template 'greeting': "), message
    assert what in message


def test_the_jinja_line_maps_into_the_yaml_file_for_plain_scalars_too(tmp_path: Path) -> None:
    text = GREETING.replace(
        "template: |\n  Hello {{ who }}.\n  Nice to see you.\n", "template: 'Hi {{ who '\n"
    )
    path = write(tmp_path / "shipped", "greeting.yaml", text)
    assert load_error(tmp_path / "shipped").startswith(f"{path}:5: template 'greeting': syntax error")


def test_two_files_with_one_name(shipped: Path) -> None:
    path = write(shipped, "zz-copy.yaml", GREETING)
    assert load_error(shipped).startswith(f"{path}:1: template 'greeting': also defined in ")


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("name: greeting\ntemplate: |\n  Hi {{ who }} from {{ city }}.\n", 3,
         "variable 'city' is not declared by the default template (it has ['who'])"),
        ("name: greeting\ntemplate: |\n  Hi there.\n", 2,
         "variable 'who' of the default template is never used"),
        ("name: farewell\ndescription: Bye.\n", 1,
         "no template named 'farewell' to override; known: ['greeting']"),
        ("name: greeting\nvariables: [who, city]\n", 2, "an override cannot set `variables`"),
        ("name: greeting\nversion: two\n", 2, "version: Input should be a valid integer"),
        ("name: greeting\ntemplate: |\n  Hi {{ who }\n", 3, "syntax error in template"),
        ("name: greeting\ncases: [{name: c, variables: {who: A, city: B}}]\n", 2,
         "variable 'city' is not declared"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("folder", ["default", "acme"])
def test_a_bad_override_names_file_template_and_line(
    shipped: Path, tmp_path: Path, folder: str, text: str, line: int, what: str
) -> None:
    path = write(tmp_path / "overrides" / folder, "greeting.yaml", text)
    message = load_error(shipped, tmp_path / "overrides")
    name = "farewell" if "farewell" in text else "greeting"
    assert message.startswith(f"{path}:{line}: template '{name}': "), message
    assert what in message


def test_a_missing_directory_and_a_stray_file_are_errors(shipped: Path, tmp_path: Path) -> None:
    assert "prompts.directory: " in load_error(shipped, tmp_path / "nowhere")
    stray = write(tmp_path / "overrides", "greeting.yaml", "name: greeting\n")
    assert load_error(shipped, tmp_path / "overrides").startswith(f"{stray}:1: template 'greeting': ")


def test_the_shipped_templates_load() -> None:
    registry = PromptRegistry.load(PromptsConfig())
    assert registry.names() == ["memory-recall", "memory-summary", "rag", "summarise"]
    assert {n: registry.get(n).variables for n in registry.names()} == {
        "memory-recall": ("turns",), "memory-summary": ("summary",), "rag": ("sources",),
        "summarise": ("summary", "turns"),
    }  # fmt: skip
    assert all(len(registry.get(n).cases) >= 2 for n in registry.names())
    assert registry.get("rag").id == "rag-v1" and registry.tenants() == []
