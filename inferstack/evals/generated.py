"""The project's own generated held-out sets, in the golden-set shapes, to report beside the
hand-written ones. Scores on these measure the generators as much as the models."""

from __future__ import annotations

from inferstack.evals.sets import InjectionCase, IntentCase, PiiCase


def intent() -> list[IntentCase]:
    from inferstack.models.training import intent_data

    return [IntentCase(text, label) for text, label in intent_data.heldout_set()]


def pii() -> list[PiiCase]:
    from inferstack.models.training.pii_data import pii_set

    return [PiiCase(text, tuple(values)) for text, values in pii_set(350)]


def injection() -> list[InjectionCase]:
    from inferstack.models.training import guard_data

    return [
        InjectionCase(e.text, e.label != "benign", e.label)
        for e in guard_data.examples("heldout")
        if e.label != "toxic"
    ]
