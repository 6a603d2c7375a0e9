"""Endpoint services for embeddings and classification: protocol model in, response dict out.
No HTTP here: routes call these, tests can too."""

from __future__ import annotations

import base64
from typing import Any

from inferstack.errors import (
    BackendUnavailable,
    InferstackError,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
)
from inferstack.guard.service import GuardService
from inferstack.models.classifier import ClassifierService
from inferstack.models.embeddings import Embedder, EmbeddingInputTooLong
from inferstack.retrieval.service import DocumentIn, RetrievalService
from inferstack.retrieval.store import COLLECTION_NAME, StoreError
from inferstack.router.deployments import AUTO
from inferstack.serving.protocol import (
    ClassifyRequest,
    EmbeddingRequest,
    GuardScanRequest,
    IngestRequest,
    RetrieveRequest,
)


class EmbeddingService:
    def __init__(self, embedder: Embedder | None, max_batch: int) -> None:
        self.embedder = embedder
        self.max_batch = max_batch

    async def create(self, request: EmbeddingRequest) -> dict[str, Any]:
        embedder = self.embedder
        if embedder is None or request.model not in (embedder.name, AUTO):
            raise ModelNotFound(f"The embedding model `{request.model[:100]}` does not exist", param="model")
        if request.dimensions is not None and request.dimensions != embedder.dimensions:
            raise InvalidRequest(
                f"{embedder.name} produces {embedder.dimensions} dimensions only", param="dimensions"
            )
        texts = request.texts
        if len(texts) > self.max_batch:
            raise InvalidRequest(f"at most {self.max_batch} inputs per request", param="input")
        try:
            batch = await embedder.embed(texts)
        except EmbeddingInputTooLong as exc:
            raise InvalidRequest(str(exc), param="input") from None
        data = []
        for index, vector in enumerate(batch.vectors):
            embedding: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode()
                if request.encoding_format == "base64"
                else vector.tolist()
            )
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return {
            "object": "list",
            "data": data,
            "model": embedder.name,
            "usage": {"prompt_tokens": batch.prompt_tokens, "total_tokens": batch.prompt_tokens},
        }


class ClassifyService:
    def __init__(self, classifier: ClassifierService | None, max_chars: int) -> None:
        self.classifier = classifier
        self.max_chars = max_chars

    async def classify(self, request: ClassifyRequest) -> dict[str, Any]:
        if self.classifier is None:
            raise InferstackError("the classifier is disabled (classifier.enabled)", status=503,
                                  code="stage_disabled")  # fmt: skip
        if len(request.text) > self.max_chars:
            raise PayloadTooLarge(f"text is longer than {self.max_chars} characters", param="text")
        intent, entities = await self.classifier.classify(request.text)
        return {
            "intent": intent.as_dict(),
            "entities": [
                {"label": e.label, "text": e.text, "start": e.start, "end": e.end, "score": e.score}
                for e in entities
            ],
        }


class GuardEndpoint:
    """`/v1/guard/scan` over the guard stage, with the caller's tenant policy."""

    def __init__(self, guard: GuardService | None, max_chars: int) -> None:
        self.guard = guard
        self.max_chars = max_chars

    async def scan(self, tenant: str, request: GuardScanRequest) -> dict[str, Any]:
        if self.guard is None:
            raise InferstackError("the guard is disabled (guard.enabled)", status=503, code="stage_disabled")
        if len(request.text) > self.max_chars:
            raise PayloadTooLarge(f"text is longer than {self.max_chars} characters", param="text")
        return (await self.guard.scan(request.text, request.direction, tenant)).body()


class RetrievalEndpoints:
    """`/v1/collections/{name}/documents` and `/v1/retrieve` over the retrieval stage."""

    def __init__(self, retrieval: RetrievalService | None) -> None:
        self.retrieval = retrieval

    def _stage(self) -> RetrievalService:
        if self.retrieval is None:
            raise InferstackError(
                "retrieval is disabled (retrieval.enabled)", status=503, code="stage_disabled"
            )
        return self.retrieval

    @staticmethod
    def _collection(name: str) -> str:
        if not COLLECTION_NAME.match(name):
            raise InvalidRequest(f"collection names must match {COLLECTION_NAME.pattern}", param="collection")
        return name

    async def ingest(self, collection: str, tenant: str, request: IngestRequest) -> dict[str, Any]:
        stage = self._stage()
        documents = [DocumentIn(d.id, d.text, d.metadata, d.title, d.format) for d in request.documents]
        try:
            ingested, chunks = await stage.ingest(self._collection(collection), tenant, documents)
        except StoreError as exc:
            raise BackendUnavailable(f"vector store unavailable: {exc}") from None
        return {"ingested": ingested, "chunks": chunks}

    async def delete(self, collection: str, tenant: str, document_id: str) -> dict[str, Any]:
        try:
            removed = await self._stage().delete(self._collection(collection), tenant, document_id)
        except StoreError as exc:
            raise BackendUnavailable(f"vector store unavailable: {exc}") from None
        if not removed:
            raise InferstackError(f"no document `{document_id[:100]}` in collection {collection}",
                                  status=404, code="document_not_found", param="id")  # fmt: skip
        return {"id": document_id, "object": "document.deleted", "deleted": True, "chunks": removed}

    async def collections(self, tenant: str) -> dict[str, Any]:
        """`GET /v1/collections`: the caller's collections (those holding its documents)."""
        try:
            found = await self._stage().collections(tenant)
        except StoreError as exc:
            raise BackendUnavailable(f"vector store unavailable: {exc}") from None
        data = [{"name": name, "object": "collection", "chunks": chunks} for name, chunks in found]
        return {"object": "list", "data": data}

    async def retrieve(self, tenant: str, request: RetrieveRequest) -> dict[str, Any]:
        try:
            results = await self._stage().search(
                request.collection,
                tenant,
                request.query,
                request.top_k,
                mode=request.mode,
                rerank=request.rerank,
            )
        except StoreError as exc:
            raise BackendUnavailable(f"vector store unavailable: {exc}") from None
        return {
            "results": [
                {"document_id": r.hit.document_id, "chunk_id": r.hit.chunk_id, "text": r.hit.text,
                 "title": r.hit.title, "score": round(r.score, 6), "metadata": r.hit.metadata}
                for r in results
            ]
        }  # fmt: skip
