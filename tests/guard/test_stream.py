"""The output guard on a stream: text is released as soon as nothing can still be forming in it,
and entities split across chunks, however they are split, come out as the whole answer would."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from inferstack.config.guard import PATTERN_ENTITIES, SECRET
from inferstack.evals.sets import read_jsonl
from inferstack.guard import pii
from inferstack.guard.pii import PiiDetector
from inferstack.guard.redact import Pseudonyms
from inferstack.guard.stream import OutputFilter

EVAL = Path(__file__).parents[2] / "eval"
EMAIL = "jane.doe@example.com"
TEXT = f"Sure, write to {EMAIL} and we will answer."


def output(pii: PiiDetector, **kw) -> OutputFilter:  # type: ignore[no-untyped-def]
    args = {
        "mask_pii": True,
        "link_mode": "rewrite",
        "allowlist": ("example.org",),
        "toxic": True,
        "pseudonyms": None,
        "hold_s": 0.0,
    }
    args.update(kw)
    return OutputFilter(pii.pattern_detector([*PATTERN_ENTITIES, SECRET]), **args)  # type: ignore[arg-type]


def split_email(parts: int) -> list[list[str]]:
    """Every way to cut the e-mail into `parts` pieces (cut points inside the address)."""
    start = TEXT.index(EMAIL)
    inner = range(start + 1, start + len(EMAIL))
    cuts: list[list[int]] = [[c] for c in inner]
    for _ in range(parts - 2):
        cuts = [[*c, n] for c in cuts for n in inner if n > c[-1] + 2]
    return [[TEXT[a:b] for a, b in zip([0, *c], [*c, len(TEXT)], strict=True)] for c in cuts[::7]]


@pytest.mark.parametrize("parts", [2, 3, 4])
def test_email_split_across_chunks_is_always_redacted(patterns_only: PiiDetector, parts: int) -> None:
    for chunks in split_email(parts):
        stream = output(patterns_only).stream()
        sent = "".join(stream.feed(c) for c in chunks) + stream.flush()
        assert EMAIL not in sent and "<EMAIL_ADDRESS>" in sent, chunks
        assert sent == TEXT.replace(EMAIL, "<EMAIL_ADDRESS>")


def test_plain_words_are_released_as_soon_as_the_next_one_starts(patterns_only: PiiDetector) -> None:
    stream = output(patterns_only).stream()
    assert stream.feed("Hello") == ""  # could still become hello@example.com
    assert stream.feed(" there") == "Hello "
    assert stream.feed(", how") == "there, "
    assert stream.feed(" are you?") == "how are you?"
    assert stream.pending == ""


# What the filter looks for, in the forms a model writes them; each must come out of a stream,
# however it is cut, exactly as the whole answer is filtered.
ADVERSARIAL = [
    "Call me on +1 415 555 0132 or (415) 555-0199 tomorrow.",
    "Card 4111 1111 1111 1111, expiry 12/29.",
    "Wire it to DE89 3704 0044 0532 0130 00 today.",
    "Your SSN 078-05-1120 is on file, and the server is 10.0.0.12.",
    "Use password: hunter2hunter2 and key sk-proj-abcdefghijklmnopqrstuvwx12 here.",
    "Send Authorization: Bearer abcdefghijklmnop.qrstuv to the API.",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- done",
    "See [the docs](https://evil.io/docs?x=1,2) or https://docs.example.org/a, thanks.",
    "Mail jane.doe@example.com; or JANE@EXAMPLE.CO.UK!",
    "Please do not say kill yourself to anyone.",
    "Call 415 - 555 - 0132 now, or +1 4 1 5 5 5 5 0 1 3 2 later.",
    "Use password:\nhunter2hunter2 and Authorization: Bearer\nabcdefghijklmnopqrstuv ok.",
    "Ref ab12 415 555 0132 is the desk.",
    "-----begin rsa private key-----\nMIIEowIBAAKCAQEA\n-----end rsa private key----- done",
    "Read it (see https://evil.io) or [here](https://evil.io/x).",
]


def cuts(text: str, rng: random.Random) -> list[list[str]]:
    """Every two-way cut, the text char by char, and random multi-way cuts."""
    ways = [[text[:i], text[i:]] for i in range(1, len(text))]
    ways.append(list(text))
    for _ in range(40):
        points = sorted(rng.sample(range(1, len(text)), rng.randint(2, 12)))
        ways.append([text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)])
    return ways


@pytest.mark.parametrize("text", ADVERSARIAL)
@pytest.mark.parametrize("links", ["rewrite", "drop"])
def test_adversarial_splits_come_out_as_the_whole_answer(
    patterns_only: PiiDetector, text: str, links: str
) -> None:
    whole = output(patterns_only, link_mode=links).apply(text)
    assert whole != text  # each case has something the filter changes
    for chunks in cuts(text, random.Random(text)):
        stream = output(patterns_only, link_mode=links).stream()
        assert "".join(stream.feed(c) for c in chunks) + stream.flush() == whole, chunks


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_tail_that_never_settles_is_released_after_the_hold_time(patterns_only: PiiDetector) -> None:
    """An answer with no break ("1-2-3-...") still streams: a tail held past `hold_s` goes out
    (checked as it stands) instead of arriving as one chunk at the end."""
    clock = Clock()
    stream = output(patterns_only, hold_s=0.5).stream(clock)
    text = "+".join(str(i) for i in range(40))
    sent = []
    for i in range(0, len(text), 3):
        clock.now += 0.1
        sent.append(stream.feed(text[i : i + 3]))
    sent.append(stream.flush())
    assert "".join(sent) == output(patterns_only).apply(text)
    assert sum(1 for s in sent if s) >= 4, sent


def test_a_secret_still_growing_is_not_released_by_the_hold_time(patterns_only: PiiDetector) -> None:
    clock = Clock()
    stream = output(patterns_only, hold_s=0.2).stream(clock)
    key = "sk-proj-" + "a1B2c3D4e5" * 5
    sent = ""
    for piece in ["Your key is ", *[key[i : i + 4] for i in range(0, len(key), 4)], " now."]:
        clock.now += 0.1
        sent += stream.feed(piece)
    sent += stream.flush()
    assert key[:20] not in sent and "<SECRET>" in sent, sent


SLOW = [  # each piece arrives after the hold time: an entity still being written stays whole
    ["Card 4111 1111", " 11", "11 11", "11 ok."],
    ["Call +1 415", " 5", "55", " 0132 ok."],
    ["Mail jane", ".do", "e", "@example.com today."],
    ["Set client_secret=abc1234", "567890", " then."],
    ["See https://docs.example.org", ".evil.io/x", " now."],
    ["Wire DE89 3704 ", "0044 0532", " 0130 00 today, then " + "a-" * 40 + "done."],
]


@pytest.mark.parametrize("pieces", SLOW)
def test_the_hold_time_never_releases_part_of_an_entity(
    patterns_only: PiiDetector, pieces: list[str]
) -> None:
    clock = Clock()
    stream = output(patterns_only, hold_s=1.0).stream(clock)
    sent = []
    for piece in pieces:
        clock.now += 1.5
        sent.append(stream.feed(piece))
    sent.append(stream.flush())
    assert "".join(sent) == output(patterns_only).apply("".join(pieces)), sent


def test_the_pattern_hint_never_hides_a_finding(
    patterns_only: PiiDetector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cheap pre-check before the recognisers: on the hand-written PII and injection sets and
    the cases above, skipping it finds the same."""
    sets = [
        EVAL / "pii" / "dev.jsonl",
        EVAL / "pii" / "test.jsonl",
        *sorted((EVAL / "injection").glob("*.jsonl")),
    ]
    # The recognisers ignore case: "EYJ…" is a JWT to them.
    cased = [*(t.swapcase() for t in ADVERSARIAL), "see EYJabcdefgh.EYJabcdefgh.abcdefgh now"]
    texts = [*ADVERSARIAL, *cased, *(row["text"] for path in sets for row in read_jsonl(path))]
    detect = patterns_only.pattern_detector([*PATTERN_ENTITIES, SECRET])
    hinted = [detect(t) for t in texts]
    monkeypatch.setattr(pii, "PATTERN_HINT", re.compile(""))
    assert [detect(t) for t in texts] == hinted
    assert sum(map(len, hinted)) > 100


def test_links_outside_the_allowlist_are_rewritten(patterns_only: PiiDetector) -> None:
    text = "Docs: https://docs.example.org/a and ![x](https://evil.io/p.png?d=secret) or http://other.net"
    out = output(patterns_only).apply(text)
    assert "https://docs.example.org/a" in out
    assert "evil.io" not in out and "other.net" not in out
    assert "![x]([link removed])" in out
    dropped = output(patterns_only, link_mode="drop").apply(text)
    assert "![x]" not in dropped and "evil.io" not in dropped


def test_toxic_words_are_masked(patterns_only: PiiDetector) -> None:
    assert output(patterns_only).apply("that is shit, sorry") == "that is [removed], sorry"


def test_pseudonyms_restored_even_when_split(patterns_only: PiiDetector) -> None:
    pseudonyms = Pseudonyms()
    placeholder = pseudonyms.placeholder("PERSON", "Maria Gonzalez")
    stream = output(patterns_only, pseudonyms=pseudonyms).stream()
    text = f"Hello {placeholder}, your order shipped. Anything else I can do for you today?"
    sent = "".join(stream.feed(text[i : i + 3]) for i in range(0, len(text), 3)) + stream.flush()
    assert sent == text.replace(placeholder, "Maria Gonzalez")
