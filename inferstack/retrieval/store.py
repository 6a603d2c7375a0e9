"""Milvus store: one collection per knowledge base with chunk text (analyzer on), a 384-d dense
vector (HNSW/COSINE) and a BM25 sparse vector computed by Milvus' own BM25 function.

Milvus Lite (an embedded file in the project cache) by default, a Milvus server when the URI is
http(s) — the same MilvusClient code. pymilvus is synchronous: every call runs on one worker
thread, which also serialises access to the embedded Lite database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

from inferstack.config.retrieval import is_server_uri

T = TypeVar("T")
SearchMode = Literal["dense", "bm25", "hybrid"]
COLLECTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_OUTPUT = ["chunk_id", "document_id", "title", "text", "metadata"]
_MAX_TEXT = 8192
# Lowercase and English stop words out: otherwise BM25 ranks documents on "how", "do", "I".
_ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": ["_english_"]}]}


class StoreError(Exception):
    """The store failed or timed out (the chat degrades to no retrieval)."""


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    document_id: str
    tenant: str
    title: str
    text: str
    content_hash: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    document_id: str
    title: str
    text: str
    metadata: dict[str, Any]
    score: float


def milvus_literal(value: str) -> str:
    """A Milvus filter string literal (JSON escaping is a subset Milvus accepts)."""
    return json.dumps(value)


class MilvusStore:
    def __init__(
        self, uri: str, dim: int, *, token: str | None = None, connect_timeout_s: float = 5.0
    ) -> None:
        self.uri = uri
        self.dim = dim
        self._token = token or ""
        self._connect_timeout_s = connect_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="milvus")
        self._connection: Any = None
        self._known: set[str] = set()
        # Milvus Lite serves gRPC in this process and logs a traceback for every AllocTimestamp
        # call pymilvus 3 makes (not implemented there, and harmless): keep those out of our logs.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)

    @property
    def _client(self) -> Any:
        """Connected on first use (on the store thread), so a store that is down at start-up
        only disables retrieval until it comes back; a failed call drops the connection."""
        if self._connection is None:
            from pymilvus import MilvusClient  # heavy import, only when retrieval is used

            self._connection = MilvusClient(uri=self.uri, token=self._token, timeout=self._connect_timeout_s)
            self._known.clear()
        return self._connection

    client = _client  # for other indexes kept in the same Milvus (the conversation memory)

    async def run(self, fn: Callable[[], T], timeout_s: float | None = None) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, fn)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise StoreError(f"vector store did not answer within {timeout_s}s") from None
        except StoreError:
            raise
        except Exception as exc:
            self._pool.submit(self._drop)  # reconnect on the next call
            raise StoreError(f"vector store failed ({type(exc).__name__})") from exc

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken; nothing to save
                connection.close()

    def close(self) -> None:
        """Never connects and never waits on a hung call: queued calls are cancelled, a running
        one finishes on its own, the connection (if any) is closed."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._drop()

    # --- synchronous operations (run on the store thread) ---

    def ensure_collection(self, name: str) -> None:
        if name in self._known:
            return
        if not COLLECTION_NAME.match(name):
            raise ValueError(f"collection name {name!r} must match {COLLECTION_NAME.pattern}")
        if not self._client.has_collection(name):
            self._create(name)
        self._client.load_collection(name)
        self._known.add(name)

    def _create(self, name: str) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("document_id", DataType.VARCHAR, max_length=512)
        schema.add_field("tenant", DataType.VARCHAR, max_length=64)
        schema.add_field("title", DataType.VARCHAR, max_length=1024)
        schema.add_field("text", DataType.VARCHAR, max_length=_MAX_TEXT, enable_analyzer=True,
                         analyzer_params=_ANALYZER)  # fmt: skip
        schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(name="bm25", function_type=FunctionType.BM25,
                     input_field_names=["text"], output_field_names=["sparse"])
        )  # fmt: skip
        index = self._client.prepare_index_params()
        index.add_index(field_name="dense", index_type="HNSW", metric_type="COSINE",
                        params={"M": 16, "efConstruction": 200})  # fmt: skip
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        self._client.create_collection(name, schema=schema, index_params=index)

    def replace_documents(
        self,
        collection: str,
        tenant: str,
        document_ids: Sequence[str],
        chunks: Sequence[StoredChunk],
        vectors: np.ndarray,
    ) -> None:
        """Idempotent upsert by document id: the documents' previous chunks are removed first.
        One delete and batched inserts per call (per-document calls are slow on Milvus Lite)."""
        self.ensure_collection(collection)
        for start in range(0, len(document_ids), 500):
            ids = ", ".join(milvus_literal(d) for d in document_ids[start : start + 500])
            in_documents = f"tenant == {milvus_literal(tenant)} and document_id in [{ids}]"
            self._client.delete(collection, filter=in_documents)
        rows = [
            {"chunk_id": c.chunk_id, "document_id": c.document_id, "tenant": c.tenant,
             "title": c.title[:1000], "text": c.text[:_MAX_TEXT], "content_hash": c.content_hash,
             "metadata": c.metadata, "dense": vector.tolist()}
            for c, vector in zip(chunks, vectors, strict=True)
        ]  # fmt: skip
        for start in range(0, len(rows), 1000):
            self._client.insert(collection, data=rows[start : start + 1000])

    def seal(self, collection: str) -> None:
        """Milvus Lite searches freshly inserted rows without their indexes (brute-force BM25:
        1.5 s per hybrid query over ~8k growing rows, ~20 ms once sealed), so an ingest ends by
        flushing them into an indexed segment. A Milvus server seals and indexes on its own, and
        frequent flushes there are discouraged."""
        if not is_server_uri(self.uri):
            self._client.flush(collection)

    def delete_document(self, collection: str, tenant: str, document_id: str) -> int:
        if not self._client.has_collection(collection):
            return 0
        self.ensure_collection(collection)
        doc_filter = self._doc_filter(tenant, document_id)
        existing = self._client.query(collection, filter=doc_filter, output_fields=["chunk_id"])
        if existing:
            self._client.delete(collection, filter=doc_filter)
        return len(existing)

    def count(self, collection: str, tenant: str | None = None) -> int:
        self.ensure_collection(collection)
        expr = f"tenant == {milvus_literal(tenant)}" if tenant is not None else 'chunk_id != ""'
        result = self._client.query(collection, filter=expr, output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def collections(self, tenant: str) -> list[tuple[str, int]]:
        """The document collections holding chunks of `tenant`, with their chunk counts (other
        indexes kept in this Milvus, whose names do not match COLLECTION_NAME, are left out)."""
        names = sorted(n for n in self._client.list_collections() if COLLECTION_NAME.match(n))
        counts = [(name, self.count(name, tenant)) for name in names]
        return [(name, n) for name, n in counts if n]

    def search(
        self, collection: str, tenant: str, query: str, vector: np.ndarray, mode: SearchMode, limit: int,
        *, fusion: str = "rrf", rrf_k: int = 60, dense_weight: float = 0.5,
    ) -> list[Hit]:  # fmt: skip
        from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

        if not self._client.has_collection(collection):
            return []
        self.ensure_collection(collection)
        expr = f"tenant == {milvus_literal(tenant)}"
        dense = {"metric_type": "COSINE", "params": {"ef": max(64, limit)}}
        sparse = {"metric_type": "BM25"}
        if mode == "dense":
            raw = self._client.search(collection, data=[vector.tolist()], anns_field="dense", limit=limit,
                                      filter=expr, output_fields=_OUTPUT, search_params=dense)  # fmt: skip
        elif mode == "bm25":
            raw = self._client.search(collection, data=[query], anns_field="sparse", limit=limit,
                                      filter=expr, output_fields=_OUTPUT, search_params=sparse)  # fmt: skip
        else:
            requests = [
                AnnSearchRequest(
                    data=[vector.tolist()], anns_field="dense", param=dense, limit=limit, expr=expr
                ),
                AnnSearchRequest(data=[query], anns_field="sparse", param=sparse, limit=limit, expr=expr),
            ]
            ranker = RRFRanker(rrf_k) if fusion == "rrf" else WeightedRanker(dense_weight, 1 - dense_weight)
            raw = self._client.hybrid_search(collection, reqs=requests, ranker=ranker, limit=limit,
                                             output_fields=_OUTPUT)  # fmt: skip
        hits = [_hit(item) for item in raw[0]] if raw else []
        if mode == "bm25":  # Milvus reports BM25 as a negative distance: more negative = better
            hits = [Hit(h.chunk_id, h.document_id, h.title, h.text, h.metadata, -h.score) for h in hits]
        return hits

    @staticmethod
    def _doc_filter(tenant: str, document_id: str) -> str:
        return f"tenant == {milvus_literal(tenant)} and document_id == {milvus_literal(document_id)}"


def _hit(item: Any) -> Hit:
    entity = item.get("entity", item)
    return Hit(
        chunk_id=str(entity["chunk_id"]),
        document_id=str(entity["document_id"]),
        title=str(entity.get("title") or ""),
        text=str(entity["text"]),
        metadata=dict(entity.get("metadata") or {}),
        score=float(item.get("distance", 0.0)),
    )
