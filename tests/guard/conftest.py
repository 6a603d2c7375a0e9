from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.config.guard import GuardConfig
from inferstack.guard.metrics import GuardMetrics
from inferstack.guard.pii import PiiDetector
from inferstack.guard.service import GuardService
from inferstack.models.classifier import EntityRecognizer
from inferstack.models.guard_text import TextClassifier


@pytest.fixture(scope="session")
def cache() -> CacheLayout:
    layout = CacheLayout(Settings().cache_dir)
    layout.apply_to_process()
    return layout


@pytest.fixture(scope="session")
def patterns_only(cache: CacheLayout) -> PiiDetector:
    return PiiDetector.build("none", None, cache.spacy_blank)


@pytest.fixture(scope="session")
def with_ner(cache: CacheLayout) -> PiiDetector:
    """Presidio with the project's trained BERT NER (`make models` trains it)."""
    return PiiDetector.build("bert", EntityRecognizer.load(cache.trained("ner")), cache.spacy_blank)


@pytest.fixture(scope="session")
def scorer(cache: CacheLayout):  # type: ignore[no-untyped-def]
    return TextClassifier.load(cache.trained("guard"))


def make_guard(pii: PiiDetector, scorer, config: GuardConfig | None = None) -> GuardService:  # type: ignore[no-untyped-def]
    return GuardService(config or GuardConfig(), pii, scorer, GuardMetrics(CollectorRegistry()))


@pytest.fixture(scope="session")
def guard(with_ner: PiiDetector, scorer) -> Iterator[GuardService]:  # type: ignore[no-untyped-def]
    service = make_guard(with_ner, scorer)
    yield service
    service.close()
