"""Files -> documents for `inferstack ingest`: .md, .txt, .html/.htm and .pdf (pypdf)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from inferstack.retrieval.service import DocumentIn

SUFFIXES = {".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html", ".htm": "html", ".pdf": "pdf"}


def find_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.suffix.lower() in SUFFIXES and p.is_file())
        elif path.suffix.lower() in SUFFIXES:
            found.append(path)
    return found


def _title(text: str, fmt: str, fallback: str) -> str:
    if fmt == "md":
        match = re.search(r"^#\s+(.+)$", text, re.M)
    elif fmt == "html":
        match = re.search(r"<title>(.*?)</title>", text, re.S | re.I) or re.search(
            r"<h1[^>]*>(.*?)</h1>", text, re.S | re.I
        )
    else:
        match = None
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split()) if match else fallback


def load(path: Path, base: Path) -> DocumentIn:
    fmt = SUFFIXES[path.suffix.lower()]
    if fmt == "pdf":
        from pypdf import PdfReader

        text = "\n\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
        fmt = "txt"
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
    relative = str(path.resolve().relative_to(base)) if path.resolve().is_relative_to(base) else path.name
    return DocumentIn(id=relative, text=text, title=_title(text, fmt, path.stem), format=fmt,
                      metadata={"path": relative})  # fmt: skip


def documents(paths: list[Path], base: Path) -> Iterator[DocumentIn]:
    for path in find_files(paths):
        yield load(path, base)
