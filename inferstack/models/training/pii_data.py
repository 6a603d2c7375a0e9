"""Generated PII messages (Faker values in a few fixed templates, eleven locales): the project's
own PII benchmark set, reproducible (every value is seeded). Never trains anything."""

from __future__ import annotations

import random

from inferstack.models.training.ner_data import seeded_faker

PII_LOCALES = ("fr_FR", "de_DE", "es_MX", "fi_FI", "ro_RO", "hu_HU", "id_ID", "ko_KR", "pt_PT", "en_US",
               "en_IN")  # fmt: skip
PII_TEMPLATES = ("Note from {PERSON}: please call {PHONE_NUMBER} or write {EMAIL_ADDRESS}.",
                 "Refund to card {CREDIT_CARD}, account holder {PERSON}.",
                 "Wire it to {IBAN_CODE} ({PERSON}), thanks.",
                 "The VPN host {IP_ADDRESS} rejects me; my colleague {PERSON} sees the same.",
                 "{PERSON} here, reach me at {EMAIL_ADDRESS} or {PHONE_NUMBER}.",
                 "ssn on file: {US_SSN}, name {PERSON}",
                 "Please ship the replacement to {LOCATION}, it is for {PERSON}.")  # fmt: skip
_CARDS = ["visa16", "mastercard", "amex", "discover"]
_IBAN_LOCALES = ["de_DE", "fr_FR", "nl_NL", "es_ES", "en_GB"]


def pii_set(n: int, seed: int = 11) -> list[tuple[str, list[tuple[str, str]]]]:
    """`n` messages with the (type, value) pairs each contains."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        fake, us = seeded_faker(PII_LOCALES[i % len(PII_LOCALES)], seed + i), seeded_faker("en_US", seed + i)
        person, email = fake.name(), fake.email()
        national = rng.random() < 0.4
        phone = us.phone_number() if national else f"+{rng.choice([33, 49, 44, 34])} {fake.msisdn()[-9:]}"
        card = us.credit_card_number(rng.choice(_CARDS))
        iban = seeded_faker(rng.choice(_IBAN_LOCALES), seed + i).iban()
        ip = us.ipv4() if rng.random() < 0.6 else us.ipv6()
        ssn, address = us.ssn(), fake.address().replace("\n", ", ")  # a postal address, local format
        values = {"PERSON": person, "EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card,
                  "IBAN_CODE": iban, "IP_ADDRESS": ip, "US_SSN": ssn, "LOCATION": address}  # fmt: skip
        template = PII_TEMPLATES[i % len(PII_TEMPLATES)]
        found = [(k, v) for k, v in values.items() if "{" + k + "}" in template]
        rows.append((template.format(**values), found))
    return rows
