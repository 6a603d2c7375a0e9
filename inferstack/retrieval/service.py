"""Retrieval: ingest (chunk -> embed -> upsert), hybrid search + rerank, and context assembly
with numbered sources for the chat prompt (the `rag` prompt template)."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import numpy as np

from inferstack.config.retrieval import RetrievalConfig
from inferstack.prompts import Prompt
from inferstack.retrieval.chunker import WordMemoCounter, chunk_document
from inferstack.retrieval.store import Hit, MilvusStore, SearchMode, StoredChunk
from inferstack.text import jaccard, word_set

INGEST_BATCH = 64  # documents per embedding call / store round trip


@dataclass(frozen=True)
class DocumentIn:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    title: str = ""
    format: str = "txt"  # md | html | txt


@dataclass(frozen=True)
class Retrieved:
    hit: Hit
    score: float  # the blended score when reranked (see blend), else the fused score


@dataclass(frozen=True)
class Context:
    system_prompt: str
    sources: list[dict[str, Any]]
    tokens: int
    prompt_id: str | None = None  # the template system_prompt came from ("rag-v1"); None: no prompt


class Encoder(Protocol):
    """The sentence embedder retrieval reads (models.embeddings.Embedder)."""

    @property
    def dimensions(self) -> int: ...

    async def embed_truncating(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


class PairScorer(Protocol):
    """A cross-encoder over (query, chunk) pairs (models.reranker.Reranker); scores are only
    compared within one query."""

    async def score(self, query: str, texts: Sequence[str], max_length: int | None = None) -> list[float]: ...

    def close(self) -> None: ...


def blend(retrieval: Sequence[float], rerank: Sequence[float], retrieval_weight: float) -> list[float]:
    """Reranker and retrieval scores standardised within the candidate list and added, the
    retrieval side weighted: the reranker corrects the fused order instead of replacing it."""
    pairs = zip(_standardise(retrieval), _standardise(rerank), strict=True)
    return [r + retrieval_weight * f for f, r in pairs]


def _standardise(values: Sequence[float]) -> list[float]:
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / spread if spread > 1e-9 else 0.0 for v in values]


def chunk_id(collection: str, tenant: str, document_id: str, index: int, content_hash: str) -> str:
    key = "\x00".join((collection, tenant, document_id, str(index), content_hash))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class RetrievalService:
    def __init__(
        self, store: MilvusStore, embedder: Encoder, reranker: PairScorer | None, config: RetrievalConfig
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.config = config
        self._heads: dict[tuple[str, str], int] = {}

    async def ingest(self, collection: str, tenant: str, documents: Sequence[DocumentIn]) -> tuple[int, int]:
        """Idempotent by document id: re-ingesting a document replaces its chunks. Documents go
        in batches: one embedding call and one store round trip per batch, the store writing
        one batch while the next is embedded (the write was ~20 % of ingest time)."""
        total, writing = 0, None
        try:
            for start in range(0, len(documents), INGEST_BATCH):
                batch = documents[start : start + INGEST_BATCH]
                stored = await asyncio.to_thread(self.chunks, collection, tenant, batch)
                vectors = await self.embedder.embed_truncating([c.text for c in stored])
                if writing is not None:
                    await writing  # in order: a later batch may repeat a document id
                write = partial(
                    self.store.replace_documents, collection, tenant, [d.id for d in batch], stored, vectors
                )
                writing = asyncio.ensure_future(self.store.run(write))
                total += len(stored)
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()  # a running write finishes on the store thread; it is idempotent
        if documents:
            await self.store.run(partial(self.store.seal, collection))
        return len(documents), total

    def chunks(self, collection: str, tenant: str, documents: Sequence[DocumentIn]) -> list[StoredChunk]:
        """The chunks ingest stores for `documents`, in document order."""
        cfg = self.config
        stored = []
        count = WordMemoCounter(self.embedder.count_tokens)  # one memo per batch of documents
        for document in documents:
            for c in chunk_document(
                document.text, document.format, document.title, max_tokens=cfg.chunk_tokens,
                overlap_tokens=cfg.chunk_overlap, count=count,
            ):  # fmt: skip
                key = chunk_id(collection, tenant, document.id, c.index, c.content_hash)
                stored.append(
                    StoredChunk(key, document.id, tenant, c.title, c.text, c.content_hash, document.metadata)
                )
        return stored

    async def delete(self, collection: str, tenant: str, document_id: str) -> int:
        return await self.store.run(lambda: self.store.delete_document(collection, tenant, document_id))

    async def collections(self, tenant: str) -> list[tuple[str, int]]:
        return await self.store.run(lambda: self.store.collections(tenant), self.config.timeout_s)

    async def search(
        self, collection: str, tenant: str, query: str, top_k: int, *, mode: SearchMode = "hybrid",
        rerank: bool | None = None,
    ) -> list[Retrieved]:  # fmt: skip
        """Candidates from the store (dense, BM25 or fused), then the cross-encoder on the top
        `candidates`. Raises StoreError when the store is down or slower than the deadline."""
        cfg = self.config
        vector = (await self.embedder.embed_truncating([query]))[0]
        limit = max(top_k, cfg.candidates)
        hits = await self.store.run(
            lambda: self.store.search(collection, tenant, query, vector, mode, limit,
                                      fusion=cfg.fusion, rrf_k=cfg.rrf_k, dense_weight=cfg.dense_weight),
            timeout_s=cfg.timeout_s,
        )  # fmt: skip
        use_reranker = (cfg.rerank if rerank is None else rerank) and self.reranker is not None
        if not use_reranker or not hits:
            return [Retrieved(h, h.score) for h in hits[:top_k]]
        assert self.reranker is not None
        rerank_scores = await self.reranker.score(query, [h.text for h in hits], cfg.rerank_max_tokens)
        scores = blend([h.score for h in hits], rerank_scores, cfg.rerank_retrieval_weight)
        ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -pair[1])
        return [Retrieved(h, s) for h, s in ranked[:top_k]]

    def _head_tokens(self, prompt: Prompt) -> int:
        """The template's own words (rendered with no sources), counted once per template."""
        key = (prompt.id, str(prompt.source))
        if (tokens := self._heads.get(key)) is None:
            tokens = self._heads[key] = self.embedder.count_tokens(prompt.render(sources=[]))
        return tokens

    def assemble(self, results: Sequence[Retrieved], budget_tokens: int, prompt: Prompt) -> Context:
        """Best-first under the token budget, near-duplicates skipped, numbered for citation and
        rendered with `prompt` (the `rag` template: variable `sources`, each {index, title,
        text}). The budget starts with the cost of the template rendered with no sources."""
        picked: list[Retrieved] = []
        shingles: list[set[str]] = []
        used = self._head_tokens(prompt)
        for item in results:
            words = word_set(item.hit.text)
            if any(jaccard(words, other) >= self.config.near_duplicate for other in shingles):
                continue
            cost = self.embedder.count_tokens(item.hit.text) + 8
            if used + cost > budget_tokens:
                continue
            picked.append(item)
            shingles.append(words)
            used += cost
        if not picked:
            return Context("", [], 0)
        blocks = [
            {"index": i, "title": r.hit.title or r.hit.document_id, "text": r.hit.text}
            for i, r in enumerate(picked, 1)
        ]
        sources = [
            {"index": i, "document_id": r.hit.document_id, "chunk_id": r.hit.chunk_id,
             "title": r.hit.title, "score": round(r.score, 4), "metadata": r.hit.metadata}
            for i, r in enumerate(picked, 1)
        ]  # fmt: skip
        return Context(prompt.render(sources=blocks), sources, used, prompt.id)

    def close(self) -> None:
        if self.reranker is not None:
            self.reranker.close()
        self.store.close()
