"""Retrieval: ingest (chunk -> embed -> upsert), hybrid search + rerank, and context assembly
with numbered sources for the chat prompt."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from inferstack.models.embeddings import Embedder
from inferstack.retrieval.chunker import chunk_document
from inferstack.retrieval.store import Hit, MilvusStore, SearchMode, StoredChunk
from inferstack.retrieval_config import RetrievalConfig

PROMPT_VERSION = "rag-v1"
INGEST_BATCH = 64  # documents per embedding call / store round trip
_PROMPT_HEAD = (
    "Answer using the numbered sources below when they are relevant, and cite them like [1]. "
    "If they do not contain the answer, say so.\n\n"
)


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
    score: float  # reranker probability when reranked, else the fused score


@dataclass(frozen=True)
class Context:
    system_prompt: str
    sources: list[dict[str, Any]]
    tokens: int


class Reranker:
    """The cross-encoder trained here (`inferstack train reranker`), on its own thread."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")

    @classmethod
    def load(cls, folder: Path, max_length: int = 128) -> Reranker:
        from sentence_transformers import CrossEncoder

        return cls(CrossEncoder(str(folder), num_labels=1, max_length=max_length, device="cpu"))

    def score_sync(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        scores = self._model.predict([(query, t) for t in texts], batch_size=32, show_progress_bar=False)
        return [float(s) for s in scores]

    async def score(self, query: str, texts: Sequence[str]) -> list[float]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.score_sync, query, list(texts))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def chunk_id(collection: str, tenant: str, document_id: str, index: int, content_hash: str) -> str:
    key = "\x00".join((collection, tenant, document_id, str(index), content_hash))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class RetrievalService:
    def __init__(
        self, store: MilvusStore, embedder: Embedder, reranker: Reranker | None, config: RetrievalConfig
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.config = config

    async def ingest(self, collection: str, tenant: str, documents: Sequence[DocumentIn]) -> tuple[int, int]:
        """Idempotent by document id: re-ingesting a document replaces its chunks. Documents go
        in batches: one embedding call and one store round trip per batch."""
        total = 0
        for start in range(0, len(documents), INGEST_BATCH):
            batch = documents[start : start + INGEST_BATCH]
            stored = await asyncio.to_thread(self._chunks, collection, tenant, batch)
            vectors = await self.embedder.embed_truncating([c.text for c in stored])
            ids = [d.id for d in batch]
            await self.store.run(
                partial(self.store.replace_documents, collection, tenant, ids, stored, vectors)
            )
            total += len(stored)
        return len(documents), total

    def _chunks(self, collection: str, tenant: str, documents: Sequence[DocumentIn]) -> list[StoredChunk]:
        cfg = self.config
        stored = []
        for document in documents:
            for c in chunk_document(
                document.text, document.format, document.title, max_tokens=cfg.chunk_tokens,
                overlap_tokens=cfg.chunk_overlap, count=self.embedder.count_tokens,
            ):  # fmt: skip
                key = chunk_id(collection, tenant, document.id, c.index, c.content_hash)
                stored.append(
                    StoredChunk(key, document.id, tenant, c.title, c.text, c.content_hash, document.metadata)
                )
        return stored

    async def delete(self, collection: str, tenant: str, document_id: str) -> int:
        return await self.store.run(lambda: self.store.delete_document(collection, tenant, document_id))

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
        scores = await self.reranker.score(query, [h.text for h in hits])
        ranked = sorted(zip(hits, scores, strict=True), key=lambda pair: -pair[1])
        return [Retrieved(h, s) for h, s in ranked[:top_k]]

    def assemble(self, results: Sequence[Retrieved], budget_tokens: int) -> Context:
        """Best-first under the token budget, near-duplicates skipped, numbered for citation."""
        picked: list[Retrieved] = []
        shingles: list[set[str]] = []
        used = self.embedder.count_tokens(_PROMPT_HEAD)
        for item in results:
            words = set(re.findall(r"\w+", item.hit.text.lower()))
            if any(_jaccard(words, other) >= self.config.near_duplicate for other in shingles):
                continue
            cost = self.embedder.count_tokens(item.hit.text) + 8
            if used + cost > budget_tokens:
                continue
            picked.append(item)
            shingles.append(words)
            used += cost
        blocks = [f"[{i}] {r.hit.title or r.hit.document_id}\n{r.hit.text}" for i, r in enumerate(picked, 1)]
        sources = [
            {"index": i, "document_id": r.hit.document_id, "chunk_id": r.hit.chunk_id,
             "title": r.hit.title, "score": round(r.score, 4), "metadata": r.hit.metadata}
            for i, r in enumerate(picked, 1)
        ]  # fmt: skip
        prompt = _PROMPT_HEAD + "\n\n".join(blocks) if blocks else ""
        return Context(prompt, sources, used if blocks else 0)

    def close(self) -> None:
        if self.reranker is not None:
            self.reranker.close()
        self.store.close()


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0
