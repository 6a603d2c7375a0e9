"""The output guard: PII/secret masking, a link allowlist, a toxicity word filter and the
mapping of pseudonyms back to values, on whole answers and on a live stream.

On a stream only a small tail is held back: the last `window` characters, extended to the
start of the token they cut and of any finding they cut, so an entity split across chunks is
still seen whole. Everything before that is final and sent at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from inferstack.guard.findings import Finding
from inferstack.guard.redact import Pseudonyms

LINK = re.compile(r"(!?\[[^\]\n]*\]\()?(https?://[^\s<>()\[\]\"'`]+)(\))?")
TOXIC_TERMS = re.compile(
    r"\b(?:fuck(?:ing|er|ed)?|motherfucker|shit(?:ty)?|bitch(?:es)?|bastards?|assholes?|cunts?|dickheads?|"
    r"retards?|kill yourself|kys)\b",
    re.IGNORECASE,
)
LINK_REMOVED = "[link removed]"
TOXIC_REMOVED = "[removed]"
MAX_HOLD = 4096  # a token longer than this is released (masked) rather than held forever

Detect = Callable[[str], Sequence[Finding]]


class OutputFilter:
    """One policy's output checks over finished text; `stream()` gives a per-choice buffer."""

    def __init__(
        self,
        detect: Detect | None,
        mask_pii: bool,
        link_mode: str,
        allowlist: Sequence[str],
        toxic: bool,
        pseudonyms: Pseudonyms | None,
        window: int,
    ) -> None:
        self.detect = detect
        self.mask_pii = mask_pii
        self.link_mode = link_mode
        self.allowlist = tuple(d.lower().lstrip(".") for d in allowlist)
        self.toxic = toxic
        self.pseudonyms = pseudonyms if pseudonyms else None
        self.window = window
        # (finding type, action): never values; for the audit line, the metrics and the response
        self.found: list[tuple[str, str]] = []

    def apply(self, text: str, findings: Sequence[Finding] | None = None) -> str:
        if findings is None:
            findings = self.detect(text) if self.detect else ()
        for f in sorted(findings, key=lambda f: f.start, reverse=True):
            if self.mask_pii:
                text = text[: f.start] + f"<{f.type}>" + text[f.end :]
            self.found.append((f.type, "redact" if self.mask_pii else "log"))
        if self.link_mode != "off":
            text = LINK.sub(self._link, text)
        if self.toxic:
            text, n = TOXIC_TERMS.subn(TOXIC_REMOVED, text)
            self.found += [("TOXIC", "redact")] * n
        return self.pseudonyms.restore(text) if self.pseudonyms else text

    def _link(self, match: re.Match[str]) -> str:
        host = (urlsplit(match.group(2)).hostname or "").lower()
        if any(host == d or host.endswith("." + d) for d in self.allowlist):
            return match.group()
        self.found.append(("LINK", self.link_mode))
        if self.link_mode == "drop":
            return ""
        if match.group(1):  # markdown link or image: keep the text, lose the target
            return match.group(1) + LINK_REMOVED + (match.group(3) or "")
        return LINK_REMOVED

    def stream(self) -> StreamBuffer:
        return StreamBuffer(self)


class StreamBuffer:
    def __init__(self, output: OutputFilter) -> None:
        self.output = output
        self.pending = ""

    def feed(self, delta: str) -> str:
        """Text that is safe to send now (possibly empty)."""
        self.pending += delta
        text = self.pending
        cut = len(text) - self.output.window
        if cut <= 0:
            return ""
        if len(text) < MAX_HOLD:
            while cut > 0 and not text[cut - 1].isspace() and not text[cut].isspace():
                cut -= 1  # never split a token (e-mail, URL, key, placeholder)
        findings = self.output.detect(text) if self.output.detect else ()
        for f in findings:
            if f.start < cut < f.end:
                cut = f.start
        if cut <= 0:
            return ""
        self.pending = text[cut:]
        return self.output.apply(text[:cut], [f for f in findings if f.end <= cut])

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.output.apply(text) if text else ""
