"""The output guard: PII/secret masking, a link allowlist, a toxicity word filter and the
mapping of pseudonyms back to values, on whole answers and on a live stream.

On a stream, text is sent as soon as nothing the filter looks for can still be forming in it.
Only the tail that could still grow into a finding is held back: the word being written (an
e-mail, key, address or placeholder ends only at a space or sentence punctuation), a run of
digit groups (phone, card, IBAN, SSN), a link, a markdown link's text, a credential's name
before its value, a private key's header. Of a tail held longer than `hold_s`, all but its last
`TIMED_KEEP` characters are released (checked as they stand), so an answer without a break
still streams; a link, a credential or address being written, or a finding that reaches the cut
is held on regardless, since it may still be growing.
"""

from __future__ import annotations

import re
import time
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
MAX_HOLD = 4096  # a tail longer than this is released (checked) rather than held forever
# Past the hold time, all but this many characters of a held tail are released: every entity
# the filter knows (a card, phone or IBAN with its spaces, an e-mail's local part) fits in it, so
# an entity still being written is never released in part; a link is held whole regardless.
TIMED_KEEP = 48
_LONG_WORD = 256  # a current word longer than this is held alone (bounds the tail search)

# Characters that end every pattern the filter knows, except links (which `_OPEN` covers).
_BREAKS = frozenset(" \t\n\r\f\v,;!?()[]{}\"'`")
# Tails of more than one word that may still become a finding, each running to the end.
# A group of a number written with spaces; possessive, so a long run cannot backtrack.
_GROUP = r"[+(]?(?=[0-9A-Z().\-/]*\d)[0-9A-Z().\-/]++"
_SEP = r"[ \t]++(?:[-./][ \t]++)?"  # "415 555" and "415 - 555"
# A tail starts where a word or a symbol-led part of one does, never inside a run of letters
# and digits ("ab12 415 555 0132" is not a phone starting at "12").
_OPEN = re.compile(
    r"(?<![^\W_])(?:https?://[^\s<>()\[\]\"'`]*+"  # a link being written (URLs hold , ; ! ?)
    r"|!?\[[^\]\n]{0,256}+(?:\](?:\([^\s)]*+)?)?"  # a markdown link's text or target
    r"|(?i:(?:bearer|password|passwd|pwd|passphrase|secret|api[_-]?key|token))\b"
    r"\s*+[:=]?\s*+[\"']?[^\s\"',;]*+"  # a credential's name, then its value
    r"|(?i:-----begin[a-z ]*+-{0,5})"  # a private key's header
    r"|(?i:kill(?:[ \t]++[a-z]*+)?)"  # "kill yourself"
    rf"|(?>(?>{_GROUP}|[0-9A-Z]{{4}}){_SEP}){{1,12}}[+(]?[0-9A-Z().\-/]*+|{_GROUP}"  # phone, card, IBAN
    r")\Z"
)
_OPEN_SCAN = 320  # how far before the current word a multi-word tail may start
# A held tail with one of these is a credential or an address being written: the hold time
# does not release it (a prefix of a key is still a leak); only MAX_HOLD or its end does.
_NEVER_TIMED = re.compile(
    r"@|\bsk-|\b[rs]k_|\b(?:AKIA|ASIA)|\bgh[pousr]_|\bgithub_pat_|\bxox|\bAIza|\beyJ|-----BEGIN"
    r"|(?:bearer|password|passwd|pwd|passphrase|secret|api[_-]?key|token)\b",  # client_secret too
    re.IGNORECASE,
)

Detect = Callable[[str], Sequence[Finding]]


def open_tail(text: str) -> int:
    """Where the part of `text` that could still grow into a finding starts (len: none)."""
    word = len(text)
    while word > 0 and text[word - 1] not in _BREAKS:
        word -= 1
    if word > 0 and text[word - 1] == "(":  # "(415) 555-0199" starts at its bracket
        word -= 1
    if len(text) - word > _LONG_WORD:
        return word
    found = _OPEN.search(text, max(0, word - _OPEN_SCAN))
    return min(word, found.start()) if found else word


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
        hold_s: float,
    ) -> None:
        self.detect = detect
        self.mask_pii = mask_pii
        self.link_mode = link_mode
        self.allowlist = tuple(d.lower().lstrip(".") for d in allowlist)
        self.toxic = toxic
        self.pseudonyms = pseudonyms if pseudonyms else None
        self.hold_s = hold_s
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
        # A bracket closing a bare link stays; a rewritten markdown link or image keeps its text
        # and loses its target, a dropped one goes whole.
        if self.link_mode == "drop":
            return "" if match.group(1) else (match.group(3) or "")
        return (match.group(1) or "") + LINK_REMOVED + (match.group(3) or "")

    def stream(self, clock: Callable[[], float] = time.monotonic) -> StreamBuffer:
        return StreamBuffer(self, clock)


class StreamBuffer:
    def __init__(self, output: OutputFilter, clock: Callable[[], float]) -> None:
        self.output = output
        self.clock = clock
        self.pending = ""
        self.held_since = 0.0  # when the oldest text in `pending` was first held back

    def feed(self, delta: str) -> str:
        """Text that is safe to send now (possibly empty)."""
        before = len(self.pending)
        text = self.pending = self.pending + delta
        if not text:
            return ""
        now = self.clock()
        if before == 0:
            self.held_since = now
        cut = open_tail(text)
        hold_s = self.output.hold_s
        forced = False
        if len(text) >= MAX_HOLD:
            cut, forced = len(text), True
        elif (
            hold_s > 0
            and cut < len(text) - TIMED_KEEP
            and now - self.held_since >= hold_s
            and not _NEVER_TIMED.search(text, cut)
        ):
            cut, forced = len(text) - TIMED_KEEP, True
        if self.output.link_mode != "off":
            for link in LINK.finditer(text, max(0, cut - MAX_HOLD), min(len(text), cut + 1)):
                if link.start() < cut < link.end():
                    cut = link.start()  # a link is rewritten whole
        findings = self.output.detect(text) if self.output.detect and cut > 0 else ()
        for f in sorted(findings, key=lambda f: f.start, reverse=True):
            if f.start < cut < f.end or (forced and f.end == cut):
                cut = f.start  # never cut a finding, nor release one that may still be growing
        if cut <= 0:
            return ""
        self.pending = text[cut:]
        if cut >= before:  # what stays back arrived with this delta
            self.held_since = now
        return self.output.apply(text[:cut], [f for f in findings if f.end <= cut])

    def flush(self) -> str:
        text, self.pending = self.pending, ""
        return self.output.apply(text) if text else ""
