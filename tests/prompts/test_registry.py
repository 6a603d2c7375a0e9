"""Overrides: `default/` for every tenant, `<tenant>/` for one, inheriting what they leave out."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferstack.config import ConfigError, Settings, load_settings
from inferstack.config.prompts import PromptsConfig
from inferstack.prompts import PromptRegistry
from tests.prompts.conftest import write


def test_a_tenant_override_inherits_and_wins_only_for_that_tenant(shipped: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides"
    path = write(
        overrides / "acme",
        "greeting.yaml",
        "name: greeting\nversion: 2\ntemplate: |\n  Welcome, {{ who }}!\n",
    )
    registry = PromptRegistry.load(PromptsConfig(directory=overrides), shipped=shipped)
    acme, other, default = (
        registry.get("greeting", "acme"),
        registry.get("greeting", "globex"),
        registry.get("greeting"),
    )
    assert acme.id == "greeting-v2" and acme.source == path
    assert acme.render(who="Ana") == "Welcome, Ana!"
    assert (acme.description, acme.variables, acme.cases) == (
        default.description,
        default.variables,
        default.cases,
    )
    assert other is default and default.render(who="Ana").startswith("Hello Ana.")
    assert registry.tenants() == ["acme"] and registry.overrides("acme") == ["greeting"]
    assert [(t, p.id) for t, p in registry.all()] == [(None, "greeting-v1"), ("acme", "greeting-v2")]


def test_an_override_may_change_only_the_description(shipped: Path, tmp_path: Path) -> None:
    write(tmp_path / "o" / "acme", "greeting.yaml", "name: greeting\ndescription: Greets acme staff.\n")
    registry = PromptRegistry.load(PromptsConfig(directory=tmp_path / "o"), shipped=shipped)
    acme = registry.get("greeting", "acme")
    assert acme.description == "Greets acme staff." and acme.id == "greeting-v1"
    assert acme.render(who="Ana") == registry.get("greeting").render(who="Ana")


def test_the_default_folder_applies_to_every_tenant_under_their_own(shipped: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides"
    write(overrides / "default", "greeting.yaml", "name: greeting\nversion: 3\ntemplate: 'Hi {{ who }}.'\n")
    write(overrides / "acme", "greeting.yaml", "name: greeting\ndescription: Acme's.\n")
    registry = PromptRegistry.load(PromptsConfig(directory=overrides), shipped=shipped)
    assert registry.get("greeting").render(who="Ana") == "Hi Ana."
    assert registry.get("greeting", "globex").id == "greeting-v3"
    acme = registry.get("greeting", "acme")  # inherits from default/, not from the shipped file
    assert acme.id == "greeting-v3" and acme.render(who="Ana") == "Hi Ana." and acme.description == "Acme's."
    assert registry.tenants() == ["acme"]


def test_the_directory_comes_from_settings(tmp_path: Path) -> None:
    write(tmp_path / "p" / "acme", "rag.yaml", "name: rag\nversion: 7\n")
    settings = Settings(prompts={"directory": str(tmp_path / "p")})
    registry = PromptRegistry.load(settings.prompts)
    assert registry.get("rag", "acme").id == "rag-v7" and registry.get("rag").id == "rag-v1"


def test_an_unknown_prompts_key_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "inferstack.yaml"
    path.write_text("prompts: {folder: x}\n")
    with pytest.raises(ConfigError, match=r"prompts\.folder: Extra inputs are not permitted"):
        load_settings(path)
