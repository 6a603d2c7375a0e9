"""NER training data from Faker across many locales, in chatbot-like contexts.

Train and held-out sets use different template families (support messages and signatures vs
pasted forms and free-form notes) and partly different locales, so the held-out F1 is not a
measure of template memorisation. Spans are character offsets into the generated text.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from faker import Faker

NER_LABELS = ("PERSON", "LOCATION", "ORGANIZATION")

TRAIN_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "pl_PL", "tr_TR",
                 "sv_SE", "en_IN", "ja_JP", "zh_CN", "vi_VN", "cs_CZ",
                 # more scripts and naming cultures, none of them a held-out locale
                 "da_DK", "hr_HR", "sk_SK", "lt_LT", "sl_SI", "az_AZ", "de_AT", "es_CO", "es_AR", "ru_RU",
                 "el_GR", "he_IL", "zh_TW", "ka_GE", "th_TH", "yo_NG", "zu_ZA", "sw", "hi_IN")  # fmt: skip
HELDOUT_LOCALES = ("en_US", "fr_FR", "de_DE", "es_MX", "fi_FI", "ro_RO", "hu_HU", "id_ID", "ko_KR", "pt_PT")

TRAIN_TEMPLATES = (
    "Hi, my name is {PERSON} and I live in {LOCATION}.",
    "Please forward this to {PERSON} at {ORGANIZATION}.",
    "I ordered from {ORGANIZATION} last week and it still hasn't arrived in {LOCATION}.",
    "Best regards,\n{PERSON}\n{ORGANIZATION}, {LOCATION}",
    "Can you update the shipping city to {LOCATION}? Thanks, {PERSON}",
    "{PERSON} from {ORGANIZATION} told me to contact you.",
    "We are moving our office from {LOCATION} to {LOCATION}.",
    "my manager {PERSON} needs the invoice for {ORGANIZATION}",
    "Is there a branch of {ORGANIZATION} near {LOCATION}?",
    "Thanks {PERSON}, that fixed it!",
    "I'm {PERSON}, a developer at {ORGANIZATION}.",
    "Flight to {LOCATION} got cancelled, rebook for {PERSON} please",
    "Cheers, {PERSON}",
    "What's the weather like in {LOCATION} tomorrow?",
    "Tell me about {ORGANIZATION}.",
    "{PERSON} and {PERSON} will join the call from {LOCATION}.",
    "Attendees: {PERSON}, {PERSON}",
    "Ticket opened by {PERSON} (ref: {ORGANIZATION}) regarding the {LOCATION} warehouse.",
    "Address: {LOCATION}",
    "Employer: {ORGANIZATION}",
    "Full name: {PERSON}",
    "-- {PERSON}, {ORGANIZATION}",
    "I used to work for {ORGANIZATION} in {LOCATION} before joining {ORGANIZATION}.",
    "Our supplier {ORGANIZATION} is late again; {PERSON} is handling it.",
    "Could {PERSON} call me back? I'm travelling to {LOCATION} on Monday.",
    "Invoice #4411 - {ORGANIZATION} - attn. {PERSON}",
    "{LOCATION} office is closed today, ask {PERSON} instead",
    "Regards, {PERSON} | {ORGANIZATION} | {LOCATION}",
    "Dear {PERSON},\nThank you for choosing {ORGANIZATION}.",
    "From: {PERSON}\nTo: support\nSubject: order shipped to {LOCATION}",
    "who is the CEO of {ORGANIZATION}?",
    "Book a table for {PERSON} in {LOCATION} tonight.",
    "{PERSON}'s parcel is stuck in {LOCATION} (tracking by {ORGANIZATION}).",
    "Customer: {PERSON}\nEmployer: {ORGANIZATION}\nShip to: {LOCATION}",
    "{PERSON} and {PERSON} both have access to the account.",
    "Status for May: {ORGANIZATION} signed, {PERSON} is on holiday until June.",
    "Shipping to {LOCATION} -- contact {PERSON}",
    "Is {ORGANIZATION} open on Sunday?",
    "{ORGANIZATION} opened a new store in {LOCATION} last Friday.",
    "Can {ORGANIZATION} send the parts to {LOCATION} by Tuesday?",
    "Reference: {ORGANIZATION} / {PERSON} / {LOCATION}",
    # Forms, payments and logistics: names after a role word, between numbers and codes.
    "Beneficiary: {PERSON}",
    "Transfer approved for {PERSON} ({ORGANIZATION}), branch {LOCATION}.",
    "Order 88213 for {PERSON} shipped to {LOCATION}.",
    "Passenger {PERSON}, seat 14C, flying to {LOCATION}",
    "Please add {PERSON} (my wife) to the booking.",
    "Patient {PERSON}, born in {LOCATION}",
    "Assignee: {PERSON} | Team: {ORGANIZATION}",
    "Hi {PERSON}, your order from {ORGANIZATION} is on its way to {LOCATION}.",
    "Driver {PERSON} called from {LOCATION} about pickup 7731.",
    "Reviewer {PERSON} approved the change; deployed in {LOCATION}.",
    "Tenant: {PERSON}; property in {LOCATION}",
    "Wire from {PERSON} to {PERSON} flagged by {ORGANIZATION}.",
    "Paid by {PERSON} on 12/03 via {ORGANIZATION}, ref 55-201.",
    "cc: {PERSON}, {PERSON}",
)

HELDOUT_TEMPLATES = (
    "Name: {PERSON}\nCompany: {ORGANIZATION}\nCity: {LOCATION}",
    "Customer {PERSON} (account at {ORGANIZATION}) reports an outage in {LOCATION}.",
    "hey it's {PERSON} again, still waiting on that refund",
    "Meeting notes: {PERSON} and {PERSON} agreed to visit {LOCATION} in May.",
    "Sent from {LOCATION} -- {PERSON}, {ORGANIZATION}",
    "Does {ORGANIZATION} deliver to {LOCATION}?",
    "Contact person: {PERSON}",
    "{ORGANIZATION} acquired a startup based in {LOCATION}.",
)

# Sentences with no entity teach the model when to stay quiet.
NEGATIVES = (
    "How do I reset my password?",
    "The app crashes when I open settings.",
    "Thanks, that was helpful!",
    "Can you summarise this paragraph for me?",
    "What is the capital gains tax rate?",
    "Please cancel my order.",
    "My invoice total looks wrong.",
    "Write a python function that sorts a list.",
)


@dataclass(frozen=True)
class NerExample:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, label), end exclusive


def _location(fake: Faker, rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.5:
        return str(fake.city())
    if choice < 0.75:
        return str(fake.country())
    return f"{fake.city()}, {fake.country()}"


def _makers(fake: Faker, rng: random.Random) -> dict[str, Callable[[], str]]:
    return {
        "PERSON": lambda: str(fake.name() if rng.random() < 0.7 else fake.first_name()),
        "LOCATION": lambda: _location(fake, rng),
        "ORGANIZATION": lambda: str(fake.company()),
    }


def render(template: str, makers: dict[str, Callable[[], str]]) -> NerExample:
    text, spans, rest = "", [], template
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        label = rest[start + 1 : end]
        text += rest[:start]
        value = makers[label]()
        spans.append((len(text), len(text) + len(value), label))
        text += value
        rest = rest[end + 1 :]
    return NerExample(text + rest, tuple(spans))


def _seeded_faker(locale: str, seed: int) -> Faker:
    """Faker's it_IT address provider lists its cities out of a set, so their order (and every
    seeded `city()`) changed with Python's per-process hash seed: the NER trained on different
    data in each process. Such lists are sorted once here."""
    fake = Faker(locale)
    for provider in fake.providers:
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)
    fake.seed_instance(seed)
    return fake


def generate(templates: Sequence[str], locales: Sequence[str], n: int, seed: int) -> list[NerExample]:
    rng = random.Random(seed)
    fakers = {}
    for locale in locales:
        fake = _seeded_faker(locale, rng.randrange(1 << 30))
        fakers[locale] = _makers(fake, rng)
    rows = []
    for i in range(n):
        if rng.random() < 0.08:
            rows.append(NerExample(rng.choice(NEGATIVES), ()))
            continue
        makers = fakers[locales[i % len(locales)]]
        example = render(templates[i % len(templates)], makers)
        lowered = example.text.lower()
        if rng.random() < 0.2 and len(lowered) == len(example.text):  # chat users skip capitals
            example = NerExample(lowered, example.spans)
        rows.append(example)
    return rows


def training_set(n: int = 5000, seed: int = 5) -> list[NerExample]:
    return generate(TRAIN_TEMPLATES, TRAIN_LOCALES, n, seed)


def heldout_set(n: int = 500, seed: int = 71) -> list[NerExample]:
    return generate(HELDOUT_TEMPLATES, HELDOUT_LOCALES, n, seed)
