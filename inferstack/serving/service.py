"""Endpoint services for embeddings and classification: protocol model in, response dict out.
No HTTP here: routes call these, tests can too."""

from __future__ import annotations

import base64
from typing import Any

from inferstack.errors import InferstackError, InvalidRequest, ModelNotFound, PayloadTooLarge
from inferstack.models.classifier import ClassifierService
from inferstack.models.embeddings import Embedder, EmbeddingInputTooLong
from inferstack.router.deployments import AUTO
from inferstack.serving.protocol import ClassifyRequest, EmbeddingRequest


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
            "intent": {"label": intent.label, "score": intent.score},
            "entities": [
                {"label": e.label, "text": e.text, "start": e.start, "end": e.end, "score": e.score}
                for e in entities
            ],
        }
