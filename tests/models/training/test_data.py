"""Training-data recipes: coverage, determinism, held-out independence, span integrity."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter

from inferstack.models.training import intent_data, ner_data, ner_templates


def test_intent_sets_cover_every_label_and_are_deterministic() -> None:
    train = intent_data.training_set()
    assert Counter(label for _, label in train) == dict.fromkeys(intent_data.INTENT_LABELS, 220)
    assert intent_data.training_set() == train
    heldout = intent_data.heldout_set()
    assert set(label for _, label in heldout) == set(intent_data.INTENT_LABELS)


def test_heldout_templates_are_a_different_family() -> None:
    for label in intent_data.INTENT_LABELS:
        assert not set(intent_data.TRAIN_TEMPLATES[label]) & set(intent_data.HELDOUT_TEMPLATES[label])
    exact_overlap = {t for t, _ in intent_data.heldout_set()} & {t for t, _ in intent_data.training_set()}
    assert len(exact_overlap) < 0.05 * len(intent_data.heldout_set())  # only short greetings may collide


def test_heldout_slot_values_never_appear_in_training_slots() -> None:
    # Numbers for the math templates may repeat; words (weapons, services, topics) must not.
    training_values = {value for values in intent_data.TRAIN_SLOTS.values() for value in values}
    for name, values in intent_data.HELDOUT_SLOTS.items():
        assert not {v for v in values if not v.isdigit()} & training_values, name


def test_ner_spans_point_at_entity_text() -> None:
    rows = ner_data.training_set(n=300) + ner_data.heldout_set(n=200)
    assert any(not ex.spans for ex in rows)  # negatives included
    for example in rows:
        for start, end, label in example.spans:
            assert label in ner_data.NER_LABELS
            assert 0 <= start < end <= len(example.text)
            assert example.text[start:end].strip() == example.text[start:end]
    families = (ner_data.HELDOUT_TEMPLATES, ner_data.BLIND_TEMPLATES, ner_data.FRESH_TEMPLATES)
    assert len(set().union(*families)) == sum(len(f) for f in families)
    locales = (
        ner_data.TRAIN_LOCALES, ner_data.HELDOUT_LOCALES, ner_data.BLIND_LOCALES, ner_data.FRESH_LOCALES
    )  # fmt: skip
    for unseen in locales[2:]:  # the blind and fresh sets' locales are in no other list
        assert all(not set(unseen) & set(other) for other in locales if other is not unseen)


def test_ner_training_templates_are_never_held_out() -> None:
    rng = random.Random(0)
    drawn = {ner_data.training_template(rng) for _ in range(20_000)}
    assert len(drawn) > 1000  # the recipe's families compose many distinct templates
    assert not drawn & {*ner_data.HELDOUT_TEMPLATES, *ner_data.BLIND_TEMPLATES, *ner_data.FRESH_TEMPLATES}
    assert any("\n" in t and ": {" in t for t in drawn)  # forms
    assert any(t in ner_templates.QUIET for t in drawn)  # entity-free text


def test_training_data_does_not_depend_on_the_process_hash_seed() -> None:
    # Faker's it_IT cities came out of a set: each process trained the NER on other data.
    code = (
        "import hashlib; from inferstack.models.training import guard_data, intent_data, ner_data; "
        "print(hashlib.sha256(repr((ner_data.training_set(1500), intent_data.training_set(), "
        'guard_data.examples("train"))).encode()).hexdigest())'
    )

    def digest(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        command = [sys.executable, "-c", code]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
        return done.stdout

    digests = {digest("1"), digest("2")}
    assert len(digests) == 1
