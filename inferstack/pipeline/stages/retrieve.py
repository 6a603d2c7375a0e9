"""The retrieve stage: decide whether to retrieve, fetch and screen the chunks, assemble the
numbered sources under the prompt's token budget with the tenant's `rag` prompt template, and
degrade to "no retrieval" (said in the answer's `inferstack.retrieval`) when the store fails."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from inferstack.config import Settings
from inferstack.config.retrieval import RetrievalConfig
from inferstack.models.classifier import Intent
from inferstack.pipeline.call import Call, Grounding
from inferstack.pipeline.metrics import PipelineMetrics
from inferstack.pipeline.protocol import ChatCompletionRequest
from inferstack.pipeline.stage import Components, Stage
from inferstack.pipeline.stages.route import estimate_prompt_tokens
from inferstack.prompts import PromptRegistry
from inferstack.retrieval.service import RetrievalService
from inferstack.retrieval.store import StoreError

log = logging.getLogger(__name__)
KNOWLEDGE_INTENT = "knowledge_question"
RAG_PROMPT = "rag"  # the template the numbered sources are rendered with (variable `sources`)

# (chunk texts, tenant) -> which of them may enter the prompt (the guard's injection screen).
Screen = Callable[[Sequence[str], str], Awaitable[list[bool]]]


def wanted_collection(
    request: ChatCompletionRequest, intent: Intent | None, config: RetrievalConfig
) -> str | None:
    """The request names a collection, or the intent is a knowledge question (demo collection)."""
    if request.inferstack is not None and request.inferstack.collection:
        return request.inferstack.collection
    if intent is not None and intent.label == KNOWLEDGE_INTENT and config.demo_collection:
        return config.demo_collection
    return None


class RetrieveStage(Stage):
    name = "retrieve"

    def __init__(
        self,
        retrieval: RetrievalService,
        smallest_context: int,
        screen: Screen | None,
        prompts: PromptRegistry,
        metrics: PipelineMetrics | None = None,
    ) -> None:
        self.retrieval = retrieval
        self.metrics = metrics
        self.config = retrieval.config
        self.smallest_context = smallest_context
        self.screen = screen
        self.prompts = prompts

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.retrieval.enabled and settings.embeddings.enabled  # it needs the encoder

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        if parts.retrieval is None:
            return None
        smallest = min(d.spec.max_context for d in parts.router.table)
        screen = parts.guard.screen_chunks if parts.guard is not None else None
        return cls(parts.retrieval, smallest, screen, parts.prompts, parts.metrics)

    def _budget(self, request: ChatCompletionRequest) -> int:
        """Smallest context among the deployments, minus the prompt and the answer reserve."""
        answer = request.max_completion_tokens or request.max_tokens or self.config.answer_reserve_tokens
        return max(0, self.smallest_context - estimate_prompt_tokens(request) - answer)

    async def on_request(self, call: Call) -> None:
        request = call.request
        if not isinstance(request, ChatCompletionRequest):
            return
        query = call.last_user_text()
        collection = wanted_collection(request, call.intent, self.config) if query else None
        if query is None or collection is None:
            return
        call.grounding = grounding = await self._ground(request, query, collection, call.tenant)
        call.extension["sources"] = grounding.sources
        call.extension["retrieval"] = grounding.info

    async def _ground(
        self, request: ChatCompletionRequest, query: str, collection: str, tenant: str
    ) -> Grounding:
        try:
            results = await self.retrieval.search(collection, tenant, query, self.config.top_k)
        except StoreError as exc:
            log.warning("retrieval unavailable, answering without it: %s", exc)
            return Grounding(info={"status": "unavailable", "collection": collection, "reason": str(exc)})
        screened_out = 0
        if self.screen is not None and results:
            keep = await self.screen([r.hit.text for r in results], tenant)
            screened_out = keep.count(False)
            if screened_out and self.metrics is not None:
                self.metrics.screened_out.inc(screened_out)
            results = [r for r, ok in zip(results, keep, strict=True) if ok]
        prompt = self.prompts.get(RAG_PROMPT, tenant)
        context = self.retrieval.assemble(results, self._budget(request), prompt)
        info = {
            "status": "ok",
            "collection": collection,
            "chunks": len(context.sources),
            "screened_out": screened_out,
            "prompt": prompt.id,
        }
        return Grounding(context, info, context.prompt_id)
