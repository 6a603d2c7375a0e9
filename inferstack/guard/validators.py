"""Our own Guardrails AI validators (no hub download, no LLM call): prompt injection, jailbreak
and toxicity, scored by the project's text classifier. Registered when a guard is built, run
through `Guard` objects with metrics collection disabled."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol


class Scores(Protocol):
    @property
    def injection(self) -> float: ...
    @property
    def jailbreak(self) -> float: ...
    @property
    def toxic(self) -> float: ...


Scorer = Callable[[str], Scores]


class TextScorer(Protocol):
    """The text classifier as the guard uses it: one text, or many (retrieved chunks) at once."""

    def score(self, text: str) -> Scores: ...
    def score_many(self, texts: Sequence[str]) -> Sequence[Scores]: ...


FINDING_OF = {"injection": "PROMPT_INJECTION", "jailbreak": "JAILBREAK", "toxic": "TOXIC"}


def build_text_guard(scorer: Scorer, injection_threshold: float, toxic_threshold: float) -> Any:
    """A Guardrails `Guard` whose validators report findings in the validation summaries."""
    import os

    from guardrails.settings import settings

    # Our validators are synchronous; Guardrails' default async service made an event loop per
    # validation on the guard's worker thread (~2 ms of a ~16 ms input guard).
    os.environ["GUARDRAILS_RUN_SYNC"] = "true"
    # Guardrails opens ~10 OpenTelemetry spans per validation and puts the validated value in
    # their attributes: a few ms per call, and prompt text in traces. Ours never wants either.
    settings.disable_tracing = True
    from guardrails import Guard, OnFailAction
    from guardrails.validators import (
        FailResult,
        PassResult,
        ValidationResult,
        Validator,
        register_validator,
    )

    def judge(kind: str, threshold: float, value: Any, metadata: dict[str, Any]) -> ValidationResult:
        scores = metadata.get("scores") or scorer(str(value))
        metadata["scores"] = scores  # the next validator reuses the one classifier pass
        score = scores.injection + scores.jailbreak if kind == "injection" else scores.toxic
        if score < threshold:
            return PassResult()
        finding = FINDING_OF[kind]
        if kind == "injection" and scores.jailbreak > scores.injection:
            finding = FINDING_OF["jailbreak"]
        return FailResult(error_message=finding, metadata={"score": round(score, 4)})

    @register_validator(name="inferstack/prompt-injection", data_type="string")
    class InjectionValidator(Validator):  # type: ignore[misc]
        def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
            return judge("injection", injection_threshold, value, metadata)

    @register_validator(name="inferstack/toxicity", data_type="string")
    class ToxicityValidator(Validator):  # type: ignore[misc]
        def _validate(self, value: Any, metadata: dict[str, Any]) -> ValidationResult:
            return judge("toxic", toxic_threshold, value, metadata)

    guard = Guard(name="inferstack-text").use(  # one call: a second `use` replaces the first
        InjectionValidator(on_fail=OnFailAction.NOOP), ToxicityValidator(on_fail=OnFailAction.NOOP)
    )
    guard.configure(allow_metrics_collection=False)
    return guard
