"""Training-data recipes: coverage, determinism, held-out independence, span integrity."""

from __future__ import annotations

from collections import Counter

from inferstack.models.training import intent_data, ner_data


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


def test_ner_spans_point_at_entity_text() -> None:
    rows = ner_data.training_set(n=300) + ner_data.heldout_set(n=200)
    assert any(not ex.spans for ex in rows)  # negatives included
    for example in rows:
        for start, end, label in example.spans:
            assert label in ner_data.NER_LABELS
            assert 0 <= start < end <= len(example.text)
            assert example.text[start:end].strip() == example.text[start:end]
    assert not set(ner_data.TRAIN_TEMPLATES) & set(ner_data.HELDOUT_TEMPLATES)
