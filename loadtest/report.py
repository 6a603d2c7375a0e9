"""Write a benchmark table into README between `<!-- bench:NAME:start -->` and `...:end -->`."""

from __future__ import annotations

import re
from pathlib import Path


def update_readme(path: Path, table: str, name: str) -> None:
    text = path.read_text()
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: markers {start} / {end} not found")
    path.write_text(pattern.sub(lambda _: f"{start}\n{table}\n{end}", text))
