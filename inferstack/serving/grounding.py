"""The retrieval step of the chat path: decide whether to retrieve, fetch and assemble the
context, and degrade to "no retrieval" (said in the response) when the store fails."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from inferstack.models.classifier import Intent
from inferstack.retrieval.service import PROMPT_VERSION, Context, RetrievalService
from inferstack.retrieval.store import StoreError
from inferstack.retrieval_config import RetrievalConfig
from inferstack.serving.protocol import ChatCompletionRequest

log = logging.getLogger(__name__)
KNOWLEDGE_INTENT = "knowledge_question"


@dataclass
class Grounding:
    context: Context | None = None
    info: dict[str, Any] = field(default_factory=lambda: {"status": "skipped"})

    @property
    def sources(self) -> list[dict[str, Any]]:
        return self.context.sources if self.context else []

    @property
    def tokens(self) -> int:
        return self.context.tokens if self.context else 0

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """The backend body with the numbered sources as a leading system message."""
        if self.context is None or not self.context.system_prompt:
            return body
        return {
            **body,
            "messages": [{"role": "system", "content": self.context.system_prompt}, *body["messages"]],
        }


def wanted_collection(
    request: ChatCompletionRequest, intent: Intent | None, config: RetrievalConfig
) -> str | None:
    """The request names a collection, or the intent is a knowledge question (demo collection)."""
    if request.inferstack is not None and request.inferstack.collection:
        return request.inferstack.collection
    if intent is not None and intent.label == KNOWLEDGE_INTENT and config.demo_collection:
        return config.demo_collection
    return None


async def ground(
    retrieval: RetrievalService | None,
    request: ChatCompletionRequest,
    query: str | None,
    intent: Intent | None,
    tenant: str,
    budget_tokens: int,
    screen: Callable[[list[str]], Awaitable[list[bool]]] | None = None,
) -> Grounding:
    """`screen` (the guard) says which retrieved chunks may enter the prompt."""
    if retrieval is None or not query:
        return Grounding()
    collection = wanted_collection(request, intent, retrieval.config)
    if collection is None:
        return Grounding()
    try:
        results = await retrieval.search(collection, tenant, query, retrieval.config.top_k)
    except StoreError as exc:
        log.warning("retrieval unavailable, answering without it: %s", exc)
        return Grounding(info={"status": "unavailable", "collection": collection, "reason": str(exc)})
    screened_out = 0
    if screen is not None and results:
        keep = await screen([r.hit.text for r in results])
        screened_out = keep.count(False)
        results = [r for r, ok in zip(results, keep, strict=True) if ok]
    context = retrieval.assemble(results, budget_tokens)
    info = {
        "status": "ok",
        "collection": collection,
        "chunks": len(context.sources),
        "screened_out": screened_out,
    }
    return Grounding(context, {**info, "prompt": PROMPT_VERSION})
