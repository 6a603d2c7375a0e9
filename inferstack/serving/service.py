"""Endpoint services: protocol model in, response dict (or an SSE byte stream) out.

No HTTP here: routes call these, tests can too. Streams are relayed event by event; only the
events that need it (usage, the first token) are inspected, everything else passes as bytes.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from inferstack.errors import InferstackError, InvalidRequest, ModelNotFound, PayloadTooLarge
from inferstack.models.classifier import ClassifierService, Intent
from inferstack.models.embeddings import Embedder, EmbeddingInputTooLong
from inferstack.router.deployments import AUTO, DeploymentTable, RouteDecision
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.protocol import (
    ChatCompletionRequest,
    ClassifyRequest,
    CompletionRequest,
    EmbeddingRequest,
)

_DONE = b"data: [DONE]"
_TOKEN_MARKERS = (b'"content":"', b'"text":"', b'"tool_calls":[')
_EMPTY_MARKERS = (b'"content":""', b'"text":""')


def inferstack_object(decision: RouteDecision, intent: Intent | None) -> dict[str, Any]:
    """The extension object of ARCHITECTURE §3; stages not yet in the path report null."""
    described = {"label": intent.label, "score": intent.score} if intent else None
    return {"route": decision.describe(), "sources": [], "guard": None, "intent": described}


def last_user_text(request: ChatCompletionRequest) -> str | None:
    for message in reversed(request.messages):
        if message.role != "user":
            continue
        if isinstance(message.content, str):
            return message.content
        parts = [p.get("text") for p in message.content or [] if p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str)) or None
    return None


def _has_token(event: bytes) -> bool:
    return any(m in event for m in _TOKEN_MARKERS) and not any(m in event for m in _EMPTY_MARKERS)


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class GenerationService:
    """Chat and text completions, relayed to the chosen deployment."""

    def __init__(
        self,
        deployments: DeploymentTable,
        metrics: GatewayMetrics,
        classifier: ClassifierService | None = None,
    ) -> None:
        self.deployments = deployments
        self.metrics = metrics
        self.classifier = classifier

    async def create(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        request_id: str,
    ) -> dict[str, Any] | AsyncIterator[bytes]:
        endpoint = "/chat/completions" if isinstance(request, ChatCompletionRequest) else "/completions"
        decision = self.deployments.resolve(request.model)
        decision.deployment.backend.require_healthy()  # fail fast, before any stage spends CPU
        intent = await self._intent(request)
        payload = request.backend_payload(decision.deployment.spec.backend_model)
        headers = {"X-Request-Id": request_id}
        if not request.stream:
            body = await decision.deployment.backend.post_json(endpoint, payload, headers)
            self.metrics.count_usage(decision.deployment.name, body.get("usage"))
            body["inferstack"] = inferstack_object(decision, intent)
            return body
        trailer = inferstack_object(decision, intent)
        stream = self._relay(decision, endpoint, payload, headers, request.wants_usage_chunk, trailer)
        # Prime: errors before the first byte surface here, as a proper HTTP status.
        first = await anext(stream)
        return _prepend(first, stream)

    async def _intent(self, request: ChatCompletionRequest | CompletionRequest) -> Intent | None:
        if self.classifier is None or not isinstance(request, ChatCompletionRequest):
            return None
        text = last_user_text(request)
        return await self.classifier.intent_of(text) if text else None

    async def _relay(
        self,
        decision: RouteDecision,
        endpoint: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        wants_usage: bool,
        trailer: dict[str, Any],
    ) -> AsyncIterator[bytes]:
        deployment = decision.deployment
        started = time.perf_counter()
        meta: dict[str, Any] = {}
        first_token = True
        sent_any = False
        try:
            async with deployment.backend.stream(endpoint, payload, headers) as events:
                async for event in events:
                    if event.startswith(_DONE):
                        yield _sse({**meta, "choices": [], "inferstack": trailer})
                        yield event
                        return
                    if not meta:
                        head = orjson.loads(event[6:])
                        meta = {k: head.get(k) for k in ("id", "object", "created", "model")}
                    if first_token and _has_token(event):
                        first_token = False
                        self.metrics.ttft.labels(deployment.name).observe(time.perf_counter() - started)
                    if b'"usage":{' in event:
                        chunk = orjson.loads(event[6:])
                        self.metrics.count_usage(deployment.name, chunk.get("usage"))
                        if not wants_usage:
                            if not chunk.get("choices"):
                                continue
                            chunk.pop("usage", None)
                            event = _sse(chunk)
                    sent_any = True
                    yield event
            raise InferstackError(f"deployment {deployment.name} ended the stream early")
        except InferstackError as error:
            if not sent_any:
                raise
            # Headers are gone; tell the client in-band the way OpenAI streams do.
            yield _sse(error.body())
            yield _DONE + b"\n\n"


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for item in rest:
        yield item


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
