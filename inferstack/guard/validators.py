"""Our own Guardrails AI validators (no hub download, no LLM call): prompt injection, jailbreak
and toxicity, scored by the project's text classifier. Registered when a guard is built and run
through their public `Validator.validate`, one after the other: a Guardrails `Guard` around the
same two validators added ~0.8 ms of bookkeeping per message (call history, runner, tracing
wrappers) to checks whose own work is two comparisons, on every request's last message."""

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


class TextGuard:
    """The text validators of one policy; `failures` lists the findings they report."""

    def __init__(self, validators: Sequence[Any], fail: type[Any]) -> None:
        self.validators = tuple(validators)
        self._fail = fail

    def failures(self, text: str, scores: Scores) -> list[str]:
        metadata: dict[str, Any] = {"scores": scores}  # one classifier pass serves every validator
        results = (v.validate(text, metadata) for v in self.validators)
        return [r.error_message for r in results if isinstance(r, self._fail)]


def build_text_guard(scorer: Scorer, injection_threshold: float, toxic_threshold: float) -> TextGuard:
    from guardrails.settings import settings

    # Guardrails' tracing would put validated text in span attributes; ours never wants it.
    settings.disable_tracing = True
    from guardrails import OnFailAction
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

    return TextGuard(
        [InjectionValidator(on_fail=OnFailAction.NOOP), ToxicityValidator(on_fail=OnFailAction.NOOP)],
        FailResult,
    )
