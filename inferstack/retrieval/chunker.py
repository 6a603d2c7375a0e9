"""Structure-aware chunking: Markdown headings, HTML block elements or plain paragraphs become
sections; sections are packed into chunks under a token budget with an overlap, each chunk
prefixed by its heading path so it stands on its own."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

TokenCounter = Callable[[str], int]

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")


def approx_tokens(text: str) -> int:
    """~1.3 word pieces per whitespace word for English prose (MiniLM's WordPiece)."""
    return int(len(text.split()) * 1.3) + 1


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]  # heading trail, outermost first
    text: str


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str  # heading path + body: what is embedded, indexed and shown
    title: str
    content_hash: str


def markdown_sections(text: str) -> list[Section]:
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            sections.append(Section(tuple(t for _, t in trail), joined))
        body.clear()

    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        heading = None if in_fence else _MD_HEADING.match(line)
        if heading:
            flush()
            level = len(heading.group(1))
            trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, heading.group(2))]
        else:
            body.append(line)
    flush()
    return sections


_HTML_BLOCKS = frozenset(
    {"p", "li", "pre", "blockquote", "td", "th", "dd", "dt", "div", "section", "article"}
)
_HTML_SKIP = frozenset({"script", "style", "nav", "footer", "head"})


class _HtmlBlocks(HTMLParser):
    _BLOCKS = _HTML_BLOCKS
    _SKIP = _HTML_SKIP

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[Section] = []
        self.trail: list[tuple[int, str]] = []
        self.body: list[str] = []
        self.current: list[str] = []
        self.heading_level = 0
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._end_block()
            self._flush()
            self.heading_level = int(tag[1])
        elif tag in self._BLOCKS or tag == "br":
            self._end_block()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading_level:
            title = " ".join("".join(self.current).split())
            self.current = []
            level, self.heading_level = self.heading_level, 0
            self.trail = [(lvl, t) for lvl, t in self.trail if lvl < level] + [(level, title)]
        elif tag in self._BLOCKS:
            self._end_block()

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.current.append(data)

    def _end_block(self) -> None:
        if self.heading_level:
            return
        text = " ".join("".join(self.current).split())
        self.current = []
        if text:
            self.body.append(text)

    def _flush(self) -> None:
        if self.body:
            self.sections.append(Section(tuple(t for _, t in self.trail), "\n\n".join(self.body)))
        self.body = []

    def finish(self) -> list[Section]:
        self._end_block()
        self._flush()
        return self.sections


def html_sections(text: str) -> list[Section]:
    parser = _HtmlBlocks()
    parser.feed(text)
    parser.close()
    return parser.finish()


def text_sections(text: str) -> list[Section]:
    return [Section((), text.strip())] if text.strip() else []


def sections_for(text: str, fmt: str) -> list[Section]:
    if fmt in ("md", "markdown"):
        return markdown_sections(text)
    if fmt in ("html", "htm"):
        return html_sections(text)
    return text_sections(text)


class WordMemoCounter:
    """`count` applied once per distinct whitespace word, then summed with the empty text's
    overhead (special tokens). Exact for a WordPiece tokenizer, whose pieces never cross
    whitespace (not for `approx_tokens`, which rounds per text); `chunk_document` re-counts
    growing texts, which cost ingest 3.7 ms of tokenizer calls per chunk before."""

    def __init__(self, count: TokenCounter) -> None:
        self._count = count
        self._overhead = count("")
        self._words: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        total = self._overhead
        for word in text.split():
            pieces = self._words.get(word)
            if pieces is None:
                pieces = self._words[word] = self._count(word) - self._overhead
            total += pieces
        return total


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _split_long(paragraph: str, budget: int, count: TokenCounter) -> list[str]:
    """A paragraph over budget is cut at sentence ends, then at word boundaries."""
    pieces, current = [], ""
    for unit in re.split(r"(?<=[.!?])\s+", paragraph):
        candidate = f"{current} {unit}".strip()
        if count(candidate) <= budget:
            current = candidate
            continue
        if current:
            pieces.append(current)
        words, current = unit.split(), ""
        for word in words:
            candidate = f"{current} {word}".strip()
            if count(candidate) > budget and current:
                pieces.append(current)
                candidate = word
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def chunk_document(
    text: str,
    fmt: str,
    title: str,
    *,
    max_tokens: int = 200,
    overlap_tokens: int = 30,
    count: TokenCounter = approx_tokens,
) -> list[Chunk]:
    """Chunks of at most `max_tokens` (heading prefix included), consecutive chunks of one
    section sharing about `overlap_tokens`; identical chunks within the document dropped."""
    if overlap_tokens >= max_tokens:
        raise ValueError("overlap must be smaller than the chunk budget")
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in sections_for(text, fmt):
        heading = " > ".join((title, *section.path)) if title else " > ".join(section.path)
        prefix = f"{heading}\n\n" if heading else ""
        budget = max(16, max_tokens - count(prefix))
        units = [u for p in _paragraphs(section.text) for u in _split_long(p, budget, count)]
        current: list[str] = []
        for unit in units:
            if current and count("\n\n".join([*current, unit])) > budget:
                _emit(chunks, seen, prefix, current, heading)
                current = _tail(current, overlap_tokens, count)
                if current and count("\n\n".join([*current, unit])) > budget:
                    current = []
            current.append(unit)
        if current:
            _emit(chunks, seen, prefix, current, heading)
    return chunks


def _tail(units: list[str], overlap: int, count: TokenCounter) -> list[str]:
    """The last words of the previous chunk, about `overlap` tokens, to carry over."""
    if overlap <= 0:
        return []
    words = " ".join(units).split()
    tail: list[str] = []
    while words and count(" ".join([words[-1], *tail])) <= overlap:
        tail.insert(0, words.pop())
    return [" ".join(tail)] if tail else []


def _emit(chunks: list[Chunk], seen: set[str], prefix: str, units: list[str], heading: str) -> None:
    body = "\n\n".join(units).strip()
    digest = hashlib.sha256(body.encode()).hexdigest()
    if not body or digest in seen:
        return
    seen.add(digest)
    chunks.append(Chunk(len(chunks), prefix + body, heading, digest))
