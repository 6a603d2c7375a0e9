"""A real corpus that is on every Debian machine: the man pages under /usr/share/man.

Each page gives a weakly labelled query-passage pair: the one-line NAME description ("list
directory contents") is the query, the DESCRIPTION section the relevant passage. Pages are split
by a hash of their name: 80 % train the reranker, 20 % are held out for retrieval evaluation,
so no page seen in training is ever scored."""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
SECTIONS = ("man1", "man5", "man8")
_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes
    (re.compile(r"\\\((aq|cq)"), "'"),
    (re.compile(r"\\\((dq|lq|rq)"), '"'),
    (re.compile(r"\\\((em|en|hy)"), "-"),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\[&|^/,~0 ]"), ""),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\\*\(?.."), ""),
    (re.compile(r"\\[a-zA-Z]"), ""),
]
_TEXT_MACROS = re.compile(r"^\.(B|I|BR|BI|IB|IR|RB|RI|SM|SB)\s+(.*)$")


@dataclass(frozen=True)
class ManPage:
    name: str  # e.g. "ls.1"
    summary: str  # the NAME line's description
    description: str  # DESCRIPTION section as plain text


def _plain(line: str) -> str:
    for pattern, replacement in _ESCAPES:
        line = pattern.sub(replacement, line)
    return line.replace('"', "").strip()


def parse(source: str) -> tuple[str, str] | None:
    """(summary, description) from roff source, or None when either is missing."""
    section = None
    summary_lines: list[str] = []
    description: list[str] = []
    for raw in source.splitlines():
        if raw.startswith(".SH") or raw.startswith(".Sh"):
            section = _plain(raw[3:]).upper()
            continue
        if raw.startswith('.\\"') or raw.startswith("'\\\""):
            continue
        macro = _TEXT_MACROS.match(raw)
        if raw.startswith("."):
            if macro is None:
                if raw.startswith((".PP", ".P", ".LP", ".TP", ".IP")) and section == "DESCRIPTION":
                    description.append("")
                continue
            raw = macro.group(2)
        text = _plain(raw)
        if section == "NAME":
            summary_lines.append(text)
        elif section == "DESCRIPTION":
            description.append(text)
    name_line = " ".join(summary_lines)
    if " - " not in name_line:
        return None
    summary = name_line.split(" - ", 1)[1].strip()
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(description)).strip()
    body = "\n\n".join(" ".join(p.split()) for p in body.split("\n\n") if p.strip())
    if len(summary.split()) < 3 or len(body.split()) < 40:
        return None
    return summary, body


# Machine-generated near-copies of one CLI's help (thousands of them on this image): kept out
# of training and quality evaluation so one family does not dominate; the latency benchmark,
# which only needs volume, includes them.
GENERATED_FAMILIES = ("gcloud",)


def load_pages(
    root: Path = MAN_ROOT,
    limit: int | None = None,
    exclude: tuple[str, ...] = GENERATED_FAMILIES,
    sections: tuple[str, ...] = SECTIONS,
) -> list[ManPage]:
    """English pages with a usable NAME and DESCRIPTION, sorted by name (deterministic)."""
    pages = []
    for section in sections:
        for path in sorted((root / section).glob("*.gz")):
            if exclude and path.name.startswith(exclude):
                continue
            try:
                source = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
            except (OSError, EOFError):
                continue
            parsed = parse(source)
            if parsed is not None:
                pages.append(ManPage(path.name.removesuffix(".gz"), *parsed))
    pages.sort(key=lambda p: p.name)
    return pages[:limit]


def is_heldout(page: ManPage) -> bool:
    return int(hashlib.sha256(page.name.encode()).hexdigest(), 16) % 5 == 0


def split(pages: list[ManPage]) -> tuple[list[ManPage], list[ManPage]]:
    """(train, held out), disjoint by page."""
    return [p for p in pages if not is_heldout(p)], [p for p in pages if is_heldout(p)]
