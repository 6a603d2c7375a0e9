"""Template files written into a temporary folder, for the loader and registry tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

GREETING = """\
name: greeting
version: 1
description: Greets someone.
variables: [who]
template: |
  Hello {{ who }}.
  Nice to see you.
cases:
  - name: greets
    variables: {who: Ana}
    expect: {contains: [Hello Ana]}
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A folder of shipped defaults holding the `greeting` template."""
    folder = tmp_path / "shipped"
    write(folder, "greeting.yaml", GREETING)
    return folder
