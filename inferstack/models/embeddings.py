"""Local sentence embeddings (all-MiniLM-L6-v2 from the PyPI package), off the event loop."""

from __future__ import annotations

import asyncio
import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EmbeddingInputTooLong(ValueError):
    def __init__(self, index: int, tokens: int, limit: int) -> None:
        super().__init__(f"input[{index}] has {tokens} tokens; the model accepts at most {limit}")
        self.index = index


@dataclass(frozen=True)
class EmbeddingBatch:
    vectors: np.ndarray  # (n, dim) float32, unit norm
    prompt_tokens: int


def minilm_path(package: str) -> Path:
    """The packaged model folder, via the package's own accessor."""
    module = importlib.import_module(package)
    return Path(module.get_model_path())


class Embedder:
    """SentenceTransformer loaded once; encodes in one dedicated worker thread because torch
    already uses every core for a single batch and concurrent batches only thrash."""

    def __init__(self, name: str, model: SentenceTransformer) -> None:
        self.name = name
        self._model = model
        self._tokenizer = model.tokenizer
        max_tokens, dimensions = model.max_seq_length, model.get_embedding_dimension()
        if max_tokens is None or dimensions is None:
            raise ValueError(f"embedding model {name} does not declare its limits")
        self.max_tokens, self.dimensions = int(max_tokens), int(dimensions)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")

    @classmethod
    def load(cls, name: str, package: str) -> Embedder:
        from sentence_transformers import SentenceTransformer

        return cls(name, SentenceTransformer(str(minilm_path(package)), device="cpu"))

    def _encode(self, texts: list[str]) -> EmbeddingBatch:
        ids = self._tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        for index, row in enumerate(ids):
            if len(row) > self.max_tokens:
                raise EmbeddingInputTooLong(index, len(row), self.max_tokens)
        vectors = self._model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return EmbeddingBatch(np.asarray(vectors, dtype=np.float32), sum(len(r) for r in ids))

    async def embed(self, texts: list[str]) -> EmbeddingBatch:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._encode, texts)

    def count_tokens(self, text: str) -> int:
        return len(
            self._tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        )

    def encode_truncating(self, texts: list[str]) -> np.ndarray:
        """Passages and queries for retrieval: cut at the model's limit instead of refusing."""
        vectors = self._model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    async def embed_truncating(self, texts: list[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.encode_truncating, texts)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
