"""Write a benchmark table into a Markdown page (README or docs/) between
`<!-- bench:NAME:start -->` and `...:end -->`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def update_readme(path: Path, table: str, name: str) -> None:
    text = path.read_text()
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: markers {start} / {end} not found")
    path.write_text(pattern.sub(lambda _: f"{start}\n{table}\n{end}", text))


def publish(results: dict[str, Any], out: Path, table: str, readme: Path | None, name: str) -> None:
    """Write the JSON results, print the table and put it into the page when asked."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(table)
    if readme:
        update_readme(readme, table, name)
