"""The guard's lexical model (TF-IDF word and character n-grams into a logistic regression) read
straight from its fitted scikit-learn Pipeline, for one message at a time.

scikit-learn's `predict_proba` on one short message costs ~3 ms, nearly all of it input
validation, joblib and dataframe checks around ~0.1 ms of arithmetic; the guard scores every
request's last message, so the same computation is done here with the fitted vocabularies,
IDF weights and coefficients (equal to the Pipeline's to float precision; tested)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class _Block:
    """One fitted TfidfVectorizer: text -> (column indices, l2-normalised weights)."""

    def __init__(self, vectorizer: Any, offset: int) -> None:
        if vectorizer.norm != "l2" or not vectorizer.use_idf or vectorizer.binary:
            raise ValueError("the lexical fast path reads l2-normalised TF-IDF features only")
        self.analyze: Callable[[str], list[str]] = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf = vectorizer.idf_
        self.sublinear = bool(vectorizer.sublinear_tf)
        self.offset = offset
        self.width = len(self.vocabulary)

    def features(self, text: str) -> tuple[list[int], np.ndarray]:
        vocabulary = self.vocabulary
        counts = Counter(i for term in self.analyze(text) if (i := vocabulary.get(term)) is not None)
        if not counts:
            return [], np.zeros(0)
        columns = list(counts)
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(columns))
        if self.sublinear:
            tf = np.log(tf) + 1.0
        weights = tf * self.idf[columns]
        norm = math.sqrt(float(weights @ weights))
        return [self.offset + c for c in columns], weights / norm if norm else weights


class LexicalModel:
    """`predict_proba` and `classes_` of a fitted Pipeline(FeatureUnion(TfidfVectorizer...),
    LogisticRegression)."""

    def __init__(self, pipeline: Any) -> None:
        union, model = pipeline.named_steps["features"], pipeline.named_steps["model"]
        if union.transformer_weights:
            raise ValueError("the lexical fast path reads an unweighted FeatureUnion only")
        self.blocks: list[_Block] = []
        offset = 0
        for _, vectorizer in union.transformer_list:
            self.blocks.append(_Block(vectorizer, offset))
            offset += self.blocks[-1].width
        self.coef = np.ascontiguousarray(model.coef_.T)  # features x classes
        self.intercept = model.intercept_
        self.classes_ = model.classes_
        if self.coef.shape[1] == 1:
            raise ValueError("the lexical fast path reads a multi-class model only")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), len(self.classes_)))
        for row, text in enumerate(texts):
            logits = self.intercept.copy()
            for block in self.blocks:
                columns, weights = block.features(text)
                if columns:
                    logits += weights @ self.coef[columns]
            logits -= logits.max()
            exp = np.exp(logits)
            out[row] = exp / exp.sum()
        return out
