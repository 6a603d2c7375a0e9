"""Retrieval: ingest (chunk -> embed -> upsert), hybrid search + rerank, and context assembly
with numbered sources for the chat prompt."""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from inferstack.models.embeddings import Embedder
from inferstack.retrieval.chunker import WordMemoCounter, chunk_document, jaccard, word_set
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
    score: float  # the blended score when reranked (see blend), else the fused score


@dataclass(frozen=True)
class Context:
    system_prompt: str
    sources: list[dict[str, Any]]
    tokens: int


class Reranker:
    """The cross-encoder trained here (`inferstack train reranker`), served by ONNX Runtime with
    int8 weights on its own thread. Scores are logits: only their order within one query means
    anything."""

    def __init__(self, tokenizer: Any, logits: Callable[[Any], Any], max_length: int) -> None:
        self._tokenizer = tokenizer
        self._logits = logits
        self._max_length = max_length
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")

    @classmethod
    def load(cls, folder: Path) -> Reranker:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from inferstack.models.onnx_head import OnnxGraph, ensure_int8
        from inferstack.models.training.trainer import read_card

        card = read_card(folder)
        if card is None or "max_length" not in card:  # the length it was trained at decides the cost
            raise RuntimeError(f"{folder}: no model card with max_length; run `inferstack train reranker`")
        max_length = int(card["max_length"])
        onnx = ensure_int8(folder, AutoModelForSequenceClassification, token_types=True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return cls(tokenizer, OnnxGraph(onnx, torch.get_num_threads()), max_length)

    def score_sync(self, query: str, texts: Sequence[str], max_length: int | None = None) -> list[float]:
        """`max_length`: tokens per pair, None = the length it was trained at. The cost is about
        linear in it."""
        if not texts:
            return []
        length = max_length or self._max_length
        # A word is at least one piece, so the first `length` words leave the same encoding
        # after truncation; tokenising whole 200-token chunks took 13 ms of a 20-pair rerank.
        heads = [" ".join(text.split(maxsplit=length)[:length]) for text in texts]
        enc = self._tokenizer(
            [query] * len(texts), heads, truncation="longest_first", max_length=length, padding=True,
            return_tensors="np",
        )  # fmt: skip
        return [float(s) for s in self._logits(enc)[:, 0]]

    async def score(self, query: str, texts: Sequence[str], max_length: int | None = None) -> list[float]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.score_sync, query, list(texts), max_length)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


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
        self, store: MilvusStore, embedder: Embedder, reranker: Reranker | None, config: RetrievalConfig
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker
        self.config = config

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

    def assemble(self, results: Sequence[Retrieved], budget_tokens: int) -> Context:
        """Best-first under the token budget, near-duplicates skipped, numbered for citation."""
        picked: list[Retrieved] = []
        shingles: list[set[str]] = []
        used = self.embedder.count_tokens(_PROMPT_HEAD)
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
