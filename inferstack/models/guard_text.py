"""The guard's text classifier: benign / injection / jailbreak / toxic, on de-obfuscated text.

Two models trained together (`inferstack train guard`; recipe in `training/guard_head.py`), their
class probabilities averaged:
- a MiniLM head fine-tuned here, served int8 by ONNX Runtime, its probabilities softened by a
  temperature fitted on held-out hand-written prompts (an overconfident head would drown the
  other model's vote). A text longer than one window
  (256 word pieces) is scored window by window, overlapping, and the window most like an attack
  speaks for the text: an instruction hidden at the end of a pasted document counts as much as
  one on its own;
- a lexical model (word 1-2-grams and character 2-5-grams into a logistic regression), about
  0.1 ms per short message once loaded (`lexical.py` reads the fitted Pipeline directly). On the
  hand-written development set the average kept the head's recall at fewer false positives, and
  caught attacks the head alone scored near zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import joblib
import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from transformers import AutoModelForSequenceClassification

from inferstack.models.card import read_card
from inferstack.models.classifier import FineTuned
from inferstack.models.deobfuscate import normalize
from inferstack.models.lexical import LexicalModel

WINDOW = 256
STRIDE = 64  # word pieces two neighbouring windows share
LEXICAL_FILE = "lexical.joblib"
LEXICAL_C = 8.0  # inverse regularisation of the lexical model


def lexical_model() -> Pipeline:
    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])  # fmt: skip
    model = LogisticRegression(C=LEXICAL_C, max_iter=3000, class_weight="balanced")
    return Pipeline([("features", features), ("model", model)])


@dataclass(frozen=True)
class TextScores:
    injection: float
    jailbreak: float
    toxic: float
    obfuscation: tuple[str, ...]


class TextClassifier(FineTuned):
    auto_model = AutoModelForSequenceClassification
    lexical: Any = None  # the fitted lexical model (a Pipeline, or LexicalModel once loaded)
    temperature = 1.0  # the head's, fitted on held-out hand-written prompts (model card)

    @classmethod
    def load(cls, folder: Path, *, onnx: bool = True) -> Self:
        classifier = super().load(folder, onnx=onnx)
        classifier.lexical = LexicalModel(joblib.load(folder / LEXICAL_FILE))
        classifier.temperature = float((read_card(folder) or {}).get("temperature", 1.0))
        return classifier

    def head_probabilities(self, texts: list[str]) -> np.ndarray:
        """The head's class probabilities on each text's first window, before the temperature."""
        enc = self.tokenizer(texts, truncation=True, max_length=WINDOW, padding=True, return_tensors="pt")
        with torch.inference_mode():
            return self._probs(enc)

    def score(self, text: str) -> TextScores:
        return self.score_many([text])[0]

    def score_many(self, texts: Sequence[str], batch_size: int = 16) -> list[TextScores]:
        """Scores in the callers' order; texts of similar length share one ONNX call."""
        out: list[TextScores | None] = [None] * len(texts)
        for batch in self._batches(list(texts), batch_size):
            for i, scores in zip(batch, self._score_batch([texts[i] for i in batch]), strict=True):
                out[i] = scores
        return [s for s in out if s is not None]

    @torch.inference_mode()
    def _score_batch(self, texts: list[str]) -> list[TextScores]:
        cleaned = [normalize(text) for text in texts]
        plain = [clean for clean, _ in cleaned]
        enc = self.tokenizer(
            plain, truncation=True, max_length=WINDOW, stride=STRIDE,
            return_overflowing_tokens=True, padding=True, return_tensors="pt",
        )  # fmt: skip
        owner = enc.pop("overflow_to_sample_mapping").numpy()
        probs = self._probs(enc, self.temperature)
        lexical = self.lexical.predict_proba(plain)
        order = [list(self.lexical.classes_).index(label) for label in self.labels]
        inj, jb, tox = (self.labels.index(label) for label in ("injection", "jailbreak", "toxic"))
        out = []
        for i, (_, found) in enumerate(cleaned):
            rows = probs[owner == i]
            top = rows[int(np.argmax(rows[:, inj] + rows[:, jb]))]
            head = np.array([*top[:tox], rows[:, tox].max(), *top[tox + 1 :]])
            mean = (head + lexical[i, order]) / 2
            out.append(TextScores(float(mean[inj]), float(mean[jb]), float(mean[tox]), tuple(found)))
        return out
