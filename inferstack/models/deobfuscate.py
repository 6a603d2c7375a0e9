"""Cheap de-obfuscation before the text classifier: attackers hide instructions in base64,
leetspeak, spaced-out letters and zero-width characters; we undo the common forms."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060\ufeff\u00ad]")
_SPACED = re.compile(r"\b(?:[A-Za-z][ .\-_*]){3,}[A-Za-z]\b")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
_LEET = str.maketrans(
    {"4": "a", "@": "a", "3": "e", "1": "i", "!": "i", "0": "o", "5": "s", "$": "s", "7": "t"}
)
_WORD = re.compile(r"\S+")


def _decode_base64(token: str) -> str | None:
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    letters = sum(c.isalpha() or c.isspace() for c in text)
    return text if len(text) >= 8 and letters / len(text) > 0.8 else None


def _unleet(word: str) -> str:
    # Only words mixing letters and leet digits ("1gn0r3"); plain numbers stay numbers.
    if len(word) < 16 and any(c.isalpha() for c in word) and any(c in "4@310!5$7" for c in word):
        return word.translate(_LEET)
    return word


def normalize(text: str) -> tuple[str, list[str]]:
    """The text with obfuscations undone (decoded base64 appended), and which were found."""
    found: list[str] = []
    clean = unicodedata.normalize("NFKC", text)
    if _ZERO_WIDTH.search(clean):
        clean = _ZERO_WIDTH.sub("", clean)
        found.append("zero_width")
    if _SPACED.search(clean):
        clean = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group()), clean)
        found.append("spaced_letters")
    unleeted = _WORD.sub(lambda m: _unleet(m.group()), clean)
    if unleeted != clean:
        clean = unleeted
        found.append("leetspeak")
    decoded = [d for d in (_decode_base64(t) for t in _B64.findall(text)) if d]
    if decoded:
        clean = clean + "\n" + "\n".join(decoded)
        found.append("base64")
    return clean, found
