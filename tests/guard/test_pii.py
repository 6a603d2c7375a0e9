"""Table-driven PII cases, positives and negatives, through Presidio with our recognisers."""

from __future__ import annotations

import pytest

from inferstack.config.guard import PII_ENTITIES, SECRET
from inferstack.guard.pii import READ_WHOLE_CHARS, PiiDetector, name_windows, windows

ALL = [*PII_ENTITIES, SECRET]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("write to ana.silva@correio.pt today", "EMAIL_ADDRESS", "ana.silva@correio.pt"),
        ("call me on +44 20 7946 0958", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("my cell is (415) 555-2671", "PHONE_NUMBER", "(415) 555-2671"),
        ("ruf an: +49 30 901820", "PHONE_NUMBER", "+49 30 901820"),
        ("numéro +33 1 42 68 53 00 merci", "PHONE_NUMBER", "+33 1 42 68 53 00"),
        ("office 001-241-509-4668x523, ask for me", "PHONE_NUMBER", "001-241-509-4668x523"),
        ("call +1-474-543-1148 ext. 54 today", "PHONE_NUMBER", "+1-474-543-1148 ext. 54"),
        ("mc 2221 0000 0000 0009 works", "CREDIT_CARD", "2221 0000 0000 0009"),
        ("visa 4111 1111 1111 1111 exp 12/29", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("amex 378282246310005 please", "CREDIT_CARD", "378282246310005"),
        ("mastercard 5555-5555-5555-4444", "CREDIT_CARD", "5555-5555-5555-4444"),
        ("IBAN DE89 3704 0044 0532 0130 00 for rent", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("pay GB82WEST12345698765432 now", "IBAN_CODE", "GB82WEST12345698765432"),
        ("ssn 536-22-1234 on file", "US_SSN", "536-22-1234"),
        ("server at 10.20.30.40 is down", "IP_ADDRESS", "10.20.30.40"),
        ("ipv6 2001:db8:85a3::8a2e:370:7334 fails", "IP_ADDRESS", "2001:db8:85a3::8a2e:370:7334"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx123 leaked", SECRET, "sk-proj-abcdefghijklmnopqrstuvwx123"),
        ("use AKIAIOSFODNN7EXAMPLE for s3", SECRET, "AKIAIOSFODNN7EXAMPLE"),
        ("password=hunter2hunter2 in the config", SECRET, "password=hunter2hunter2"),
        ("Authorization: Bearer abcdef1234567890abcdef", SECRET, "Bearer abcdef1234567890abcdef"),
    ],
)
def test_pattern_entities_found(patterns_only: PiiDetector, text: str, entity: str, value: str) -> None:
    found = {(f.type, text[f.start : f.end]) for f in patterns_only.analyze(text, ALL, 0.6)}
    assert (entity, value) in found


@pytest.mark.parametrize(
    "text",
    [
        "the meeting is at 10:30 on 2024-05-01",
        "order 1234 shipped in 3 boxes",
        "version 4.2.1 fixed the bug",
        "card number 4111 1111 1111 1112 (bad checksum)",
        "IBAN DE00 3704 0044 0532 0130 00 is invalid",
        "the password field is required",
        "see https://example.com/docs for details",
        "ticket 12345678 is still open",
    ],
)
def test_negatives_find_nothing(patterns_only: PiiDetector, text: str) -> None:
    assert patterns_only.analyze(text, ALL, 0.6) == []


def test_no_url_or_uk_nhs_noise_inside_emails_and_us_phones(patterns_only: PiiDetector) -> None:
    text = "reach bob.lee@company.org or 212-555-0147"
    types = sorted(f.type for f in patterns_only.analyze(text, ALL, 0.6))
    assert types == ["EMAIL_ADDRESS", "PHONE_NUMBER"]


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("Hi, I'm Maria Gonzalez and I need help", "PERSON", "Maria Gonzalez"),
        ("Please forward this to Hiroshi Tanaka tomorrow", "PERSON", "Hiroshi Tanaka"),
        ("We are moving the office to Rotterdam next year", "LOCATION", "Rotterdam"),
    ],
)
def test_bert_ner_plugged_into_presidio(with_ner: PiiDetector, text: str, entity: str, value: str) -> None:
    found = {(f.type, text[f.start : f.end]) for f in with_ner.analyze(text, ALL, 0.6)}
    assert (entity, value) in found


def test_email_local_part_is_not_a_person(with_ner: PiiDetector) -> None:
    text = "Mail maria.gonzalez@example.com for the invoice"
    assert [f.type for f in with_ner.analyze(text, ALL, 0.6)] == ["EMAIL_ADDRESS"]


def test_long_text_is_read_in_windows(with_ner: PiiDetector) -> None:
    text = "filler words here. " * 120 + "Contact Maria Gonzalez please."
    assert len(windows(text)) > 1
    found = {text[f.start : f.end] for f in with_ner.analyze(text, ALL, 0.6)}
    assert "Maria Gonzalez" in found


def test_ner_reads_only_sentences_that_may_hold_names() -> None:
    filler = "Please help me understand the bill I received last month. "
    text = "Hi, I'm Maria Gonzalez from Madrid. " + filler * 8 + "Say hi to 김민준."
    pieces = [piece for _, piece in name_windows(text)]
    assert pieces == ["Hi, I'm Maria Gonzalez from Madrid.", " Say hi to 김민준."]
    assert all(text[o : o + len(p)] == p for o, p in name_windows(text))
    assert name_windows(filler * 8) == []


def test_short_text_is_read_whole_and_casual_long_text_by_sentence() -> None:
    assert name_windows("name: kenji watanabe, card ending 4242") == [
        (0, "name: kenji watanabe, card ending 4242")
    ]
    assert name_windows("12345 !!") == []
    casual = "my router keeps dropping every evening. " * 10 + "pls call me back. thanks, wanjiru"
    assert len(casual) > READ_WHOLE_CHARS and name_windows(casual)
    proper = "My router keeps dropping every evening. " * 10 + "Please call me back."
    assert name_windows(proper) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("hi, this is priya nair and my order never came", "priya nair"),
        ("My son li wei is locked out. I'm his mom, zhang min.", "zhang min"),
    ],
)
def test_lower_case_names_are_found(with_ner: PiiDetector, text: str, value: str) -> None:
    found = {text[f.start : f.end] for f in with_ner.analyze(text, ALL, 0.6) if f.type == "PERSON"}
    assert value in found, found


@pytest.mark.parametrize("value", ["123-45-6789", "078-05-1120"])
def test_published_sample_ssns_are_still_redacted(patterns_only: PiiDetector, value: str) -> None:
    text = f"my ssn is {value}, why does the form reject it?"
    assert [(f.type, text[f.start : f.end]) for f in patterns_only.analyze(text, ALL, 0.6)] == [
        ("US_SSN", value)
    ]


def test_sample_ssn_with_mixed_separators_is_not_an_ssn(patterns_only: PiiDetector) -> None:
    assert patterns_only.analyze("ref 123-45 6789", ["US_SSN"], 0.6) == []
