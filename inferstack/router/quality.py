"""How much a prompt needs the strong tier: features of the request -> one score in [0, 1].

RouteLLM's shape: a scorer computes one number; the policy compares it with a threshold that
`inferstack router calibrate` sets from a quantile of scores on a golden set."""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass

# How strongly each intent suggests a strong model (the intent classifier's labels).
INTENT_PRIOR = {
    "coding": 0.85,
    "math_reasoning": 0.85,
    "knowledge_question": 0.4,
    "task_request": 0.35,
    "complaint_escalation": 0.25,
    "unsafe_request": 0.25,
    "account_personal": 0.15,
    "chitchat": 0.08,
    "greeting": 0.02,
}
_UNSURE_PRIOR = 0.4

_CODE = re.compile(
    r"```|\bdef\s+\w+\(|\bclass\s+\w+|#include|\bSELECT\b.+\bFROM\b|=>|\breturn\b|\w+\(\)|"
    r"\b(?:regex|stack ?trace|traceback|segfault|compile|recursion|async|mutex|deadlock)\b",
    re.IGNORECASE,
)
_MATH = re.compile(
    r"\d\s*[-+*/^=]\s*\(?\d|\b(?:prove|proof|integral|derivative|probability|equation|matrix|"
    r"theorem|eigen\w*|polynomial|expected value|converge\w*|modulo|prime)\b",
    re.IGNORECASE,
)
_REASONING = re.compile(
    r"\bstep[- ]by[- ]step\b|\bexplain why\b|\bcompare\b|\btrade-?offs?\b|\bdesign\b|"
    r"\barchitecture\b|\boptimi[sz]e\b|\banaly[sz]e\b|\bdebug\b|\brefactor\b|\bcomplexity\b|"
    r"\bderive\b|\bimplement\b|\bevaluate\b|\bpros and cons\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PromptFeatures:
    """What the router knows about a request. `text` (the last user message) stays in memory
    only; it is never logged or put in a decision record."""

    text: str
    prompt_tokens: int  # estimate: characters / 4 over all messages
    output_tokens: int  # max_tokens, else the configured default
    intent: str | None = None
    intent_score: float = 0.0
    needs_tools: bool = False
    needs_json: bool = False


class QualityScorer(abc.ABC):
    """One number per request: higher means a weak model is less likely to do."""

    @abc.abstractmethod
    def score(self, features: PromptFeatures) -> float: ...


class HeuristicScorer(QualityScorer):
    """Intent prior (weighted by the classifier's confidence) plus cheap text cues: code, math,
    reasoning words, length and the number of questions asked."""

    def score(self, features: PromptFeatures) -> float:
        if features.intent in INTENT_PRIOR:
            p = features.intent_score
            value = INTENT_PRIOR[features.intent] * p + _UNSURE_PRIOR * (1 - p)
        else:
            value = _UNSURE_PRIOR
        text = features.text
        if _CODE.search(text):
            value += 0.15
        if _MATH.search(text):
            value += 0.15
        if _REASONING.search(text):
            value += 0.1
        value += min(0.2, features.prompt_tokens / 1500)
        value += min(0.1, 0.05 * max(0, text.count("?") - 1))
        return max(0.0, min(1.0, value))


SCORERS: dict[str, type[QualityScorer]] = {"heuristic": HeuristicScorer}


def build_scorer(name: str) -> QualityScorer:
    return SCORERS[name]()  # the name was checked with the config
