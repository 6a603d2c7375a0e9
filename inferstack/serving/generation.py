"""Chat and text completions: classify, route, run on the chosen deployment (router.executor
handles retries, fallbacks and mid-stream failover), relay the stream, settle the cost.

No HTTP here: routes call this, tests can too. Stream events pass through as bytes; only the
ones that need it (usage, the first of the stream) are parsed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import orjson

from inferstack.errors import InferstackError
from inferstack.guard.service import GuardService
from inferstack.models.classifier import ClassifierService, Intent
from inferstack.retrieval.service import RetrievalService
from inferstack.retrieval_config import RetrievalConfig
from inferstack.router.deployments import Deployment
from inferstack.router.executor import DONE, Outcome, sse
from inferstack.router.policy import Decision
from inferstack.router.quality import PromptFeatures
from inferstack.router.service import RouterService
from inferstack.serving.grounding import Grounding, ground
from inferstack.serving.guarding import GuardedCall, guard_request
from inferstack.serving.metrics import GatewayMetrics
from inferstack.serving.protocol import ChatCompletionRequest, CompletionRequest


def inferstack_object(
    route: dict[str, Any], intent: Intent | None, grounding: Grounding, guarded: GuardedCall | None
) -> dict[str, Any]:
    """The extension object of ARCHITECTURE §3; a stage that is switched off reports null."""
    described = {"label": intent.label, "score": intent.score} if intent else None
    guard = guarded.report() if guarded else None
    return {"route": route, "sources": grounding.sources, "retrieval": grounding.info, "guard": guard,
            "intent": described}  # fmt: skip


def last_user_text(request: ChatCompletionRequest) -> str | None:
    for message in reversed(request.messages):
        if message.role == "user":
            return " ".join(message.texts()) or None
    return None


def _message_chars(request: ChatCompletionRequest) -> int:
    total = 0
    for message in request.messages:
        if isinstance(message.content, str):
            total += len(message.content)
        elif message.content:
            total += sum(len(p.get("text") or "") for p in message.content if isinstance(p, dict))
    return total


def prompt_features(
    request: ChatCompletionRequest | CompletionRequest, intent: Intent | None, default_output: int
) -> PromptFeatures:
    """What the router sees of a request. Token counts are estimates (4 characters a token)."""
    output = request.max_tokens or default_output
    if isinstance(request, ChatCompletionRequest):
        output = request.max_completion_tokens or output
        tools_chars = sum(len(orjson.dumps(t.function)) for t in request.tools or [])
        fmt = request.response_format
        return PromptFeatures(
            text=last_user_text(request) or "",
            prompt_tokens=(_message_chars(request) + tools_chars) // 4 + 4 * len(request.messages),
            output_tokens=output,
            intent=intent.label if intent else None,
            intent_score=intent.score if intent else 0.0,
            needs_tools=bool(request.tools),
            needs_json=fmt is not None and fmt.type != "text",
        )
    prompt = request.prompt
    if isinstance(prompt, str):
        text, tokens = prompt, len(prompt) // 4
    elif prompt and isinstance(prompt[0], str):
        text, tokens = " ".join(prompt), sum(len(p) for p in prompt) // 4
    else:
        text, tokens = "", sum(len(p) if isinstance(p, list) else 1 for p in prompt)
    return PromptFeatures(text=text, prompt_tokens=tokens, output_tokens=output)


@dataclass
class Prepared:
    decision: Decision
    intent: Intent | None
    grounding: Grounding


@dataclass
class Generation:
    """A chat/completion result: the body or the SSE stream, and the route header value."""

    result: dict[str, Any] | AsyncGenerator[bytes, None]
    route_header: str


class GenerationService:
    """Chat and text completions: classify, route, then run on the chosen deployment with
    retries, fallbacks and mid-stream failover (router.executor)."""

    def __init__(
        self,
        router: RouterService,
        metrics: GatewayMetrics,
        classifier: ClassifierService | None = None,
        retrieval: RetrievalService | None = None,
        retrieval_config: RetrievalConfig | None = None,
        guard: GuardService | None = None,
    ) -> None:
        self.router = router
        self.guard = guard
        self.metrics = metrics
        self.classifier = classifier
        self.retrieval = retrieval
        self.retrieval_config = retrieval_config or RetrievalConfig()
        self._smallest_context = min(d.spec.max_context for d in router.table)

    async def prepare(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        tenant: str,
        *,
        retrieve: bool = True,
        guarded: GuardedCall | None = None,
    ) -> Prepared:
        """Intent, retrieval (chat only) and the routing decision."""
        self.router.precheck(request.model)  # fail fast, before any stage spends CPU
        query = last_user_text(request) if isinstance(request, ChatCompletionRequest) else None
        intent = await self.classifier.intent_of(query) if self.classifier and query else None
        features = prompt_features(request, intent, self.router.config.default_output_tokens)
        grounding = Grounding()
        if retrieve and self.retrieval is not None and isinstance(request, ChatCompletionRequest):
            budget = self._context_budget(request, features.prompt_tokens)
            screen = partial(guarded.guard.screen_chunks, tenant=tenant) if guarded is not None else None
            grounding = await ground(self.retrieval, request, query, intent, tenant, budget, screen)
            if grounding.tokens:
                features = replace(features, prompt_tokens=features.prompt_tokens + grounding.tokens)
        return Prepared(self.router.decide(request.model, features, tenant), intent, grounding)

    def _context_budget(self, request: ChatCompletionRequest, prompt_tokens: int) -> int:
        """Smallest context among the deployments, minus the prompt and the answer reserve."""
        answer = (
            request.max_completion_tokens or request.max_tokens or self.retrieval_config.answer_reserve_tokens
        )
        return max(0, self._smallest_context - prompt_tokens - answer)

    async def create(
        self,
        request: ChatCompletionRequest | CompletionRequest,
        request_id: str,
        tenant: str,
    ) -> Generation:
        endpoint = "/chat/completions" if isinstance(request, ChatCompletionRequest) else "/completions"
        guarded = None
        if self.guard is not None:  # before any other stage sees the user's text
            request, guarded = await guard_request(self.guard, request, tenant)
        prepared = await self.prepare(request, tenant, guarded=guarded)
        decision, intent, grounding = prepared.decision, prepared.intent, prepared.grounding
        headers = {"X-Request-Id": request_id}
        outcome = Outcome()
        chain = self.router.chain(decision)

        def payload_for(deployment: Deployment) -> dict[str, Any]:
            return grounding.apply(request.backend_payload(deployment.spec.backend_model))

        if not request.stream:
            body = await self.router.executor.call_json(chain, endpoint, payload_for, headers, outcome)
            assert outcome.served_by is not None
            usage = body.get("usage")
            self.metrics.count_usage(outcome.served_by.name, usage)
            cost = self.router.settle(decision, outcome, usage)
            route = self.router.route_object(decision, outcome, cost)
            if guarded is not None:
                guarded.guard_body(body)
            body["inferstack"] = inferstack_object(route, intent, grounding, guarded)
            return Generation(body, _route_header(decision, outcome))

        def continue_for(target: Deployment, partial: str, tokens: int) -> dict[str, Any] | None:
            body = continuation_payload(request, target, partial, tokens)
            return grounding.apply(body) if body is not None and "messages" in body else body

        events = self.router.executor.stream(chain, endpoint, payload_for, continue_for, headers, outcome)
        chat = isinstance(request, ChatCompletionRequest)
        stream = self._relay(events, decision, outcome, intent, grounding, request.wants_usage_chunk,
                             guarded, chat)  # fmt: skip
        # Prime: errors before the first byte surface here, as a proper HTTP status.
        first = await anext(stream)
        return Generation(_prepend(first, stream), _route_header(decision, outcome))

    async def _relay(
        self,
        events: AsyncGenerator[bytes, None],
        decision: Decision,
        outcome: Outcome,
        intent: Intent | None,
        grounding: Grounding,
        wants_usage: bool,
        guarded: GuardedCall | None,
        chat: bool,
    ) -> AsyncGenerator[bytes, None]:
        meta: dict[str, Any] = {}
        usage: Any = None
        sent_any = False
        try:
            async for event in events:
                if event.startswith(DONE):
                    if guarded is not None:
                        for tail in guarded.tail_events(meta, chat):
                            yield tail
                    cost = self.router.settle(decision, outcome, usage)
                    route = self.router.route_object(decision, outcome, cost)
                    extension = inferstack_object(route, intent, grounding, guarded)
                    yield sse({**meta, "choices": [], "inferstack": extension})
                    yield event
                    return
                if not meta:
                    head = orjson.loads(event[6:])
                    meta = {k: head.get(k) for k in ("id", "object", "created", "model")}
                if b'"usage":{' in event:
                    chunk = orjson.loads(event[6:])
                    usage = chunk.get("usage")
                    assert outcome.served_by is not None
                    self.metrics.count_usage(outcome.served_by.name, usage)
                    if not wants_usage:
                        if not chunk.get("choices"):
                            continue
                        chunk.pop("usage", None)
                        event = sse(chunk)
                if guarded is not None:
                    event = guarded.guard_event(event)
                sent_any = True
                yield event
        except InferstackError as error:
            if not sent_any:
                raise
            # Headers are gone; tell the client in-band the way OpenAI streams do.
            yield sse(error.body())
            yield DONE + b"\n\n"
        finally:  # now, not at garbage collection: releases the backend stream and its slot
            await events.aclose()


def continuation_payload(
    request: ChatCompletionRequest | CompletionRequest, target: Deployment, partial: str, tokens: int
) -> dict[str, Any] | None:
    """The request to finish a broken stream on `target`: the partial answer as an assistant
    prefix (chat) or appended to the prompt (text). None when that is not possible."""
    if request.n != 1:
        return None
    body = request.backend_payload(target.spec.backend_model)
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(body.get(key), int):
            body[key] = max(1, body[key] - tokens)
    if isinstance(request, ChatCompletionRequest):
        body["messages"] = [*body["messages"], {"role": "assistant", "content": partial}]
        if target.spec.api == "vllm":
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body
    if not isinstance(request.prompt, str) or request.echo:
        return None
    body["prompt"] = request.prompt + partial
    return body


def _route_header(decision: Decision, outcome: Outcome) -> str:
    served = outcome.served_by.name if outcome.served_by else decision.deployment.name
    return f"{served}; reason={decision.reason}"


async def _prepend(first: bytes, rest: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:  # as in _relay: close the stream below now
        await rest.aclose()
