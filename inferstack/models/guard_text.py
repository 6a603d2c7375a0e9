"""The guard's text classifier: benign / injection / jailbreak / toxic, on de-obfuscated text.

Word 1-2-grams plus character 2-5-grams into a logistic regression (scikit-learn): trains in
seconds here, scores a 200-token message in about a millisecond, and needs no LLM call. The
artefact lives in the project cache and is retrained when the data or the recipe changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from inferstack.models import deobfuscate
from inferstack.models.deobfuscate import normalize
from inferstack.models.training import guard_data
from inferstack.models.training.guard_data import LABELS, Example

log = logging.getLogger(__name__)
C = 8.0  # inverse regularisation; chosen on the training split only


def recipe_hash() -> str:
    blob = json.dumps([C, inspect.getsource(guard_data), inspect.getsource(deobfuscate),
                       inspect.getsource(_pipeline)])  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _pipeline() -> Pipeline:
    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])  # fmt: skip
    model = LogisticRegression(C=C, max_iter=3000, class_weight="balanced")
    return Pipeline([("features", features), ("model", model)])


@dataclass(frozen=True)
class TextScores:
    injection: float
    jailbreak: float
    toxic: float
    obfuscation: tuple[str, ...]


class TextClassifier:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.index = {label: list(pipeline.classes_).index(label) for label in LABELS}

    @classmethod
    def train(cls, examples: list[Example]) -> TextClassifier:
        pipeline = _pipeline()
        pipeline.fit([normalize(e.text)[0] for e in examples], [e.label for e in examples])
        return cls(pipeline)

    def score(self, text: str) -> TextScores:
        clean, found = normalize(text)
        probs = self.pipeline.predict_proba([clean])[0]
        return TextScores(
            injection=float(probs[self.index["injection"]]),
            jailbreak=float(probs[self.index["jailbreak"]]),
            toxic=float(probs[self.index["toxic"]]),
            obfuscation=tuple(found),
        )

    def save(self, folder: Path, card: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, folder / "model.joblib")
        (folder / "card.json").write_text(json.dumps(card, indent=2))

    @classmethod
    def load(cls, folder: Path) -> TextClassifier:
        return cls(joblib.load(folder / "model.joblib"))


def evaluate(classifier: TextClassifier, examples: list[Example], threshold: float = 0.5) -> dict[str, float]:
    """Attack recall (injection or jailbreak flagged as either) and the false-positive rate on
    benign text; toxic recall likewise."""
    benign = [e for e in examples if e.label == "benign"]
    attacks = [e for e in examples if e.label in ("injection", "jailbreak")]
    toxic = [e for e in examples if e.label == "toxic"]
    scores = {e.text: classifier.score(e.text) for e in examples}  # each text scored once

    def attack(e: Example) -> bool:
        return scores[e.text].injection + scores[e.text].jailbreak >= threshold

    def is_toxic(e: Example) -> bool:
        return scores[e.text].toxic >= threshold

    return {
        "attack_recall": sum(map(attack, attacks)) / max(1, len(attacks)),
        "benign_fpr": sum(map(attack, benign)) / max(1, len(benign)),
        "toxic_recall": sum(map(is_toxic, toxic)) / max(1, len(toxic)),
        "toxic_fpr": sum(map(is_toxic, benign)) / max(1, len(benign)),
        "n_attacks": len(attacks),
        "n_benign": len(benign),
        "n_toxic": len(toxic),
    }


def ensure_text_classifier(folder: Path, *, force: bool = False) -> TextClassifier:
    """Load the cached classifier, or train (seconds) when missing or its recipe changed."""
    card_path = folder / "card.json"
    recipe = recipe_hash()
    if not force and card_path.exists() and json.loads(card_path.read_text()).get("recipe") == recipe:
        return TextClassifier.load(folder)
    started = time.perf_counter()
    train = guard_data.examples("train")
    classifier = TextClassifier.train(train)
    heldout = evaluate(classifier, guard_data.examples("heldout"))
    seconds = round(time.perf_counter() - started, 1)
    card = {"recipe": recipe, "train_examples": len(train), "train_s": seconds, "heldout": heldout}
    classifier.save(folder, card)
    log.info("guard text classifier trained: %s", card)
    return classifier
