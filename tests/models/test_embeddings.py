"""The ONNX embedder against sentence-transformers, the reference for all-MiniLM-L6-v2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from inferstack.config import Settings
from inferstack.config.cache import CacheLayout
from inferstack.models.embeddings import Embedder, EmbeddingInputTooLong, minilm_path

TEXTS = [
    "How do I rotate the API keys of the gateway?",
    "ls - list directory contents",
    "The reranker is trained here from man pages; it runs on ONNX Runtime with int8 weights.",
    "x",
    "Milvus Lite keeps the collection in one file under the project's data directory. " * 12,
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path(Settings().embeddings.package)), device="cpu")
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True))


def load(int8: bool) -> Iterator[Embedder]:
    settings = Settings()
    config = settings.embeddings.model_copy(update={"int8": int8})
    embedder = Embedder.from_config(config, CacheLayout(settings.cache_dir).ensure())
    yield embedder
    embedder.close()


@pytest.fixture(scope="module")
def float32() -> Iterator[Embedder]:
    yield from load(False)


@pytest.fixture(scope="module")
def int8() -> Iterator[Embedder]:
    yield from load(True)


def test_float32_graph_gives_sentence_transformers_vectors(float32: Embedder, reference: np.ndarray) -> None:
    vectors = float32.encode_truncating(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_int8_graph_stays_close_and_keeps_neighbours(int8: Embedder, reference: np.ndarray) -> None:
    vectors = int8.encode_truncating(TEXTS)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= 0.95, cosines
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # Each text's nearest reference vector is its own.
    assert list((vectors @ reference.T).argmax(axis=1)) == list(range(len(TEXTS)))


def test_batch_order_does_not_change_a_vector(int8: Embedder) -> None:
    alone = int8.encode_truncating([TEXTS[2]])[0]
    together = int8.encode_truncating(TEXTS)[2]
    np.testing.assert_allclose(alone, together, atol=1e-5)


async def test_embed_refuses_input_over_the_limit_and_counts_tokens(int8: Embedder) -> None:
    batch = await int8.embed(TEXTS[:2])
    assert batch.prompt_tokens == sum(int8.count_tokens(t) for t in TEXTS[:2])
    with pytest.raises(EmbeddingInputTooLong) as err:
        await int8.embed(["fine", "word " * 400])
    assert err.value.index == 1


def test_graphs_live_in_the_project_cache(int8: Embedder) -> None:
    folder = CacheLayout(Settings().cache_dir).models / f"{Settings().embeddings.name}-onnx"
    assert (folder / "model.onnx").is_file() and (folder / "model.int8-matmul.onnx").is_file()
    assert Path(folder).is_relative_to(Settings().cache_dir)
