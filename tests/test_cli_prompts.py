"""`inferstack prompts list|show|render|test`, run as a real subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import run


@pytest.fixture
def config(tmp_path: Path) -> str:
    """A config whose prompts.directory gives tenant `acme` its own rag template."""
    (tmp_path / "prompts" / "acme").mkdir(parents=True)
    (tmp_path / "prompts" / "acme" / "rag.yaml").write_text(
        "name: rag\nversion: 2\ndescription: Acme's sources.\n"
        "template: |\n  Acme sources:{% for s in sources %} [{{ s.index }}] {{ s.title }}{% endfor %}\n"
    )
    path = tmp_path / "inferstack.yaml"
    path.write_text(f"prompts: {{directory: {tmp_path / 'prompts'}}}\n")
    return str(path)


def test_list_and_show(config: str) -> None:
    listed = run("prompts", "list", "--config", config)
    assert listed.returncode == 0, listed.stderr
    assert (
        "rag-v1" in listed.stdout and "summarise-v1" in listed.stdout and "memory-recall-v1" in listed.stdout
    )
    assert "tenants with overrides: acme" in listed.stdout
    acme = run("prompts", "list", "--tenant", "acme", "--config", config)
    assert "rag-v2" in acme.stdout and "tenant acme" in acme.stdout and "memory-summary-v1" in acme.stdout
    shown = run("prompts", "show", "rag", "--tenant", "acme", "--config", config)
    assert shown.returncode == 0, shown.stderr
    assert "id:          rag-v2" in shown.stdout and "description: Acme's sources." in shown.stdout
    assert "Acme sources:{% for s in sources %}" in shown.stdout and "rag.yaml" in shown.stdout
    unknown = run("prompts", "show", "nope", "--config", config)
    assert unknown.returncode == 2 and "no template named 'nope'" in unknown.stderr


def test_render_with_vars_and_a_vars_file(config: str, tmp_path: Path) -> None:
    rendered = run(
        "prompts", "render", "memory-summary", "--var", "summary=The user is Ana.", "--config", config
    )
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.endswith("no longer shown):\nThe user is Ana.\n")
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"sources": [{"index": 1, "title": "VPN", "text": "Start it."}]}))
    acme = run("prompts", "render", "rag", "--tenant", "acme", "--vars", str(variables), "--config", config)
    assert acme.stdout == "Acme sources: [1] VPN\n"
    missing = run("prompts", "render", "summarise", "--var", "summary=x", "--config", config)
    assert missing.returncode == 2 and "template 'summarise-v1'" in missing.stderr
    assert "missing variable(s) ['turns']" in missing.stderr and "Traceback" not in missing.stderr


def test_test_runs_every_case_and_fails_on_one(config: str, tmp_path: Path) -> None:
    passed = run("prompts", "test")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "rag-v1" in passed.stdout and "summarise-v1" in passed.stdout and "FAIL" not in passed.stdout
    # acme's rag inherits the default's cases; its text has no "cite them like [1]"
    failing = run("prompts", "test", "--config", config)
    assert failing.returncode == 1
    line = next(x for x in failing.stdout.splitlines() if x.startswith("rag-v2"))
    assert "acme" in line and "FAIL: " in line and "missing 'cite them like [1]'" in line
    assert "0 failing" not in failing.stdout


def test_a_bad_template_is_a_config_error_naming_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "prompts" / "default" / "rag.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("name: rag\ntemplate: |\n  {% for s in sources %}{{ s.text }}\n")
    config = tmp_path / "inferstack.yaml"
    config.write_text(f"prompts: {{directory: {tmp_path / 'prompts'}}}\n")
    for command in (["prompts", "list", "--config", str(config)], ["config", "check", str(config)]):
        result = run(*command)
        assert result.returncode == 2, result.stdout
        assert f"{bad}:3: template 'rag': syntax error in template" in result.stderr
        assert "Traceback" not in result.stderr
